"""``ReplaySource``: replays frames from an iterable on its own thread (tests, benchmarks).

The stand-in for a live camera, as Holoscan's replayer is: anything that yields ``Frame`` or
``FrameFailure`` values becomes a source, optionally paced at ``rate`` frames per second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import replace

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.base import FrameSink, SourceCounts

log = logging.getLogger(__name__)


class ReplaySource:
    """Hands each item of ``items`` to the sink; finite, so ``wait()`` turns True at the end."""

    name = "replay"

    def __init__(self, items: Iterable[Frame | FrameFailure], *, rate: float = 0.0) -> None:
        self._items = items
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._done = threading.Event()
        self._stop = threading.Event()
        self._counts = SourceCounts()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def open(self, sink: FrameSink) -> None:
        self._thread = threading.Thread(target=self._run, args=(sink,), name="replay-source",
                                         daemon=True)
        self._thread.start()

    def _run(self, sink: FrameSink) -> None:
        try:
            for item in self._items:
                if self._stop.is_set():
                    break
                failed = isinstance(item, FrameFailure)
                with self._lock:
                    self._counts = replace(
                        self._counts, seen=self._counts.seen + 1,
                        failed=self._counts.failed + failed,
                        emitted=self._counts.emitted + (not failed),
                    )
                sink(item)
                if self._interval:
                    self._stop.wait(self._interval)
        except Exception:  # a broken iterable ends the replay, the pipeline goes on
            log.exception("replay source failed")
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def counts(self) -> SourceCounts:
        with self._lock:
            return self._counts

