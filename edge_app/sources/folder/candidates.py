"""Candidate files of the folder source: which are pending, when each is due, which are done.

A file is *pending* from its first hint until it is delivered or failed; then it is *done*
with the (size, mtime) it had. A done file whose size or mtime changes later is pending
again: a re-acquisition (the same name with new content) or a failed file that may now work.
Used on the folder source's checker thread only.
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from edge_app.sources.folder.events import NotAFile, file_signature

log = logging.getLogger(__name__)

#: Waits are capped so that no setting can make the source wait forever (``1e309`` is inf).
MAX_WAIT_S = 600.0
#: A one-pass (``once``) scan reads what is there: it waits on a writer at most this long.
ONCE_MAX_SETTLE_S = 5.0


def bounded_wait(value: float, name: str, cap: float) -> float:
    """``value`` seconds, capped at ``cap`` (with a warning); NaN or negative raise."""
    if math.isnan(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value}")
    if value > cap:
        log.warning("%s=%g is longer than the source ever waits; using %gs", name, value, cap)
        return cap
    return float(value)


@dataclass(frozen=True)
class WaitOptions:
    """The folder source's waits, in seconds, after capping."""

    settle: float
    rescan: float
    give_up: float


def wait_options(settle_s: float, rescan_s: float, give_up_s: float | None,
                 once: bool) -> WaitOptions:
    """Settle, rescan and give-up times; ``give_up_s`` defaults to 4 settles (at least 2 s)."""
    settle = bounded_wait(settle_s, "settle_s", ONCE_MAX_SETTLE_S if once else MAX_WAIT_S)
    rescan = max(0.05, bounded_wait(rescan_s, "rescan_s", MAX_WAIT_S))
    give_up = max(2.0, 4 * settle) if give_up_s is None else give_up_s
    return WaitOptions(settle, rescan, bounded_wait(give_up, "give_up_s", MAX_WAIT_S))


class Signature(NamedTuple):
    """What tells one version of a file from the next without reading it."""

    size: int
    mtime_ns: int


@dataclass
class Pending:
    """Checker-thread state of one candidate file."""

    signature: Signature | None = None
    stable_since: float = 0.0
    due: float = 0.0
    closed: bool = False
    trouble_since: float | None = None


class Candidates:
    """Pending and done files under the watched root, matched by ``patterns``."""

    def __init__(self, patterns: Iterable[str], clock: Callable[[], float]) -> None:
        self._patterns = tuple(p.lower() for p in patterns)
        self._clock = clock
        self.pending: dict[str, Pending] = {}
        self._done: dict[str, Signature | None] = {}

    def matches(self, file_name: str) -> bool:
        lowered = file_name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self._patterns)

    def note(self, key: str, *, closed: bool) -> bool:
        """A hint about ``key``; True when it became a new candidate (count it as seen)."""
        if not self.matches(Path(key).name):
            return False
        if key in self._done:
            if not self._changed(key):
                return False
            del self._done[key]
            log.info("%s changed after it was taken: taking it again", key)
        now = self._clock()
        pending = self.pending.get(key)
        new = pending is None
        if pending is None:
            pending = self.pending[key] = Pending(due=now)
        if closed:
            pending.closed, pending.due = True, now
        return new

    def _changed(self, key: str) -> bool:
        try:
            signature = Signature(*file_signature(Path(key)))
        except (FileNotFoundError, NotAFile):
            return False
        return signature != self._done[key]

    def settling(self, pending: Pending, signature: tuple[int, int], now: float,
                 settle: float) -> bool:
        """Update ``pending`` with the file's current ``signature``; True while not settled."""
        signature = Signature(*signature)
        if signature != pending.signature:
            pending.signature, pending.stable_since = signature, now
            if not pending.closed:
                pending.due = now + settle
                return True
        elif not pending.closed and now - pending.stable_since < settle:
            pending.due = pending.stable_since + settle
            return True
        pending.closed = False
        return False

    @staticmethod
    def retry_later(pending: Pending, now: float, give_up: float, settle: float,
                    since: float | None = None) -> bool:
        """Schedule another try of a file in trouble; False once it lasted ``give_up`` s."""
        first = pending.trouble_since if since is None else since
        if first is None:
            pending.trouble_since = first = now
        if now - first >= give_up:
            return False
        pending.due = now + max(0.05, min(settle, 1.0))
        return True

    def due(self) -> list[tuple[str, Pending]]:
        now = self._clock()
        return [(key, p) for key, p in list(self.pending.items()) if p.due <= now]

    def next_due(self, default: float) -> float:
        return min((p.due for p in self.pending.values()), default=default)

    def finish(self, key: str, signature: tuple[int, int]) -> None:
        """``key`` was delivered (or is known to the store) at ``signature``."""
        self.pending.pop(key, None)
        self._done[key] = Signature(*signature)

    def fail(self, key: str) -> Signature | None:
        """``key`` failed; it is tried again only once its size or mtime changes."""
        pending = self.pending.pop(key, None)
        signature = pending.signature if pending is not None else None
        if signature is None:  # failed before it was seen whole: remember it as it is now
            try:
                self._done[key] = Signature(*file_signature(Path(key)))
            except (OSError, NotAFile):
                self._done[key] = None
        else:
            self._done[key] = signature
        return signature

    def forget(self, key: str) -> None:
        """``key`` is gone before it was ever seen whole (a temporary file): nothing to record."""
        self.pending.pop(key, None)
