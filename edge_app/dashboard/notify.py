"""Telling a person who is not looking: new critical alerts, rate-limited and grouped."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from edge_app.dashboard.snapshot import AlertRow


class CriticalNotifier:
    """Decides what the tray says: at most one message per ``min_interval_s``.

    Alerts already in the store when the first snapshot arrives are not news. New critical
    alerts wait while the interval runs and are then sent as one grouped message.
    """

    def __init__(self, *, min_interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._seen: set[int] | None = None
        self._pending: list[AlertRow] = []
        self._last_sent: float | None = None

    def update(self, alerts: Iterable[AlertRow]) -> str | None:
        """Feed the newest alerts; return a message to show now, or ``None``."""
        critical = [a for a in alerts if a.severity == "critical" and a.state == "open"]
        if self._seen is None:
            self._seen = {a.id for a in critical}
            return None
        fresh = sorted((a for a in critical if a.id not in self._seen), key=lambda a: a.id)
        self._seen.update(a.id for a in fresh)
        self._pending.extend(fresh)
        now = self.clock()
        if not self._pending or (self._last_sent is not None
                                 and now - self._last_sent < self.min_interval_s):
            return None
        self._last_sent = now
        pending, self._pending = self._pending, []
        if len(pending) == 1:
            return pending[0].message
        wells = sorted({a.well or "plate" for a in pending})
        shown = ", ".join(wells[:8]) + (" …" if len(wells) > 8 else "")
        return f"{len(pending)} new critical alerts in {len(wells)} well(s): {shown}"
