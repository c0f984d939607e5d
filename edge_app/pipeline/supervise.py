"""``SourceSupervisor``: a source's errors become ``source`` alerts; a dead source restarts.

A source reports through its optional ``health() -> SourceHealth`` (see
``edge_app.sources.base``): each new error (``errors`` went up) is reported once, and a source
whose thread died (``alive`` False) is restarted through its ``restart()``, at most
``max_restarts`` times; after that it is reported as failed and closed, so a one-pass run
ends instead of waiting for it. The same error over and over (a folder that keeps failing to
list) is reported again at most every ``repeat_s``. Sources without ``health`` are left alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from edge_app.core.results import Severity

log = logging.getLogger(__name__)

#: ``report(message, label, severity)``: store and emit one ``source`` alert.
SourceReport = Callable[[str, str, Severity], None]


class SourceSupervisor:
    """Checks ``source.health()`` every ``interval_s`` on its own thread."""

    def __init__(self, source: Any, report: SourceReport, *, interval_s: float = 0.5,
                 max_restarts: int = 5, repeat_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.source, self.report = source, report
        self.interval_s, self.max_restarts = interval_s, max_restarts
        self.repeat_s, self.clock = repeat_s, clock
        self.restarts = 0
        self._errors_seen = 0
        self._last_error: tuple[str, float] | None = None
        self._gave_up = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if getattr(self.source, "health", None) is None:
            return
        self._thread = threading.Thread(target=self._run, name="source-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop checking, then check once more (errors of a source that just finished)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.check(restart=False)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # the supervisor must outlive whatever it watches
                log.exception("source supervisor: check failed")

    def check(self, *, restart: bool = True) -> None:
        """Report new errors; restart a dead source (or give up on it)."""
        health_of = getattr(self.source, "health", None)
        if health_of is None:
            return
        with self._lock:
            health = health_of()
            if health.errors > self._errors_seen:
                self._errors_seen = health.errors
                self._report_error(health.error or "source error")
            if restart and not health.alive and not self._gave_up:
                self._restart()

    def _report_error(self, message: str) -> None:
        now = self.clock()
        last = self._last_error
        if last is not None and last[0] == message and now - last[1] < self.repeat_s:
            return  # the same error again: already alerted
        self._last_error = (message, now)
        self.report(message, "error", Severity.WARNING)

    def _restart(self) -> None:
        name = getattr(self.source, "name", "source")
        restart = getattr(self.source, "restart", None)
        if restart is None or self.restarts >= self.max_restarts:
            self._gave_up = True
            self.report(f"{name} source stopped and was restarted {self.restarts} time(s); "
                        "giving up: no more frames come from it in this run", "failed",
                        Severity.CRITICAL)
            self.source.close(1.0)
            return
        self.restarts += 1
        self.report(f"{name} source stopped; restarting it ({self.restarts} of at most "
                    f"{self.max_restarts})", "restarted", Severity.WARNING)
        restart()
