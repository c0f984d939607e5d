"""What is wrong with the store, in words a person at the microscope PC can act on."""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge_app.core.results import Alert, Severity

#: Errors that pass: a lock, a full disk, an I/O error. The write is retried, then spooled.
TRANSIENT = (sqlite3.OperationalError, OSError)
_NEARLY_FULL = 64 * 2**20
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


@dataclass(frozen=True)
class StoreHealth:
    """A snapshot of the writer: ``ok`` or the problem, and what waits to be written.

    ``spooled`` entries are durable in the spool beside the database; ``held`` ones are only
    in memory (the spool could not take them either) and are re-read from the source after
    a restart.
    """

    ok: bool = True
    message: str = "ok"
    spooled: int = 0
    held: int = 0
    since: float | None = None

    @property
    def unwritten(self) -> int:
        return self.spooled + self.held

    def text(self) -> str:
        """The status line: ``ok``, or the problem and the backlog."""
        if self.ok and not self.unwritten:
            return "ok"
        backlog = f"{self.spooled} waiting in the spool"
        if self.held:
            backlog += f", {self.held} in memory only"
        return f"{self.message} ({backlog})" if not self.ok else f"catching up ({backlog})"


def mount_of(path: Path) -> str:
    """The drive (``D:\\``) or mount point holding ``path``."""
    path = path.resolve()
    if path.drive:
        return path.anchor
    while not os.path.ismount(path) and path.parent != path:
        path = path.parent
    return str(path)


def describe(exc: BaseException, folder: Path, seconds: float) -> str:
    """``database locked by another process for 20 s``, ``disk full: 0 bytes free on D:\\``."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return f"database locked by another process for {seconds:.0f} s"
    code = getattr(exc, "errno", None)
    if code in _FULL or "full" in text or "too large" in text or "i/o error" in text:
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            free = 0
        where = mount_of(folder)
        limit = _file_size_limit()
        if free < _NEARLY_FULL:
            return f"disk full: {free} bytes free on {where}"
        if code == errno.EFBIG or "too large" in text or limit is not None:
            cap = f" of {limit} bytes" if limit is not None else ""
            return f"store file cannot grow (file size limit{cap}): {free} bytes free on {where}"
        if "i/o error" in text:
            return f"disk I/O error writing the store on {where} ({exc}); check the disk"
        return f"database cannot grow ({exc}): {free} bytes free on {where}"
    return f"store write failed: {type(exc).__name__}: {exc}"


def _file_size_limit() -> int | None:
    """The process's file size limit (``ulimit -f``) in bytes, or ``None`` when unlimited."""
    try:
        import resource
    except ImportError:  # Windows has no such limit
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def store_alert(health: StoreHealth, now: datetime, *, recovered: bool = False) -> Alert:
    """The ``store`` alert raised when writing stops working (and the note when it is back)."""
    message = ("store writes work again; the spool was written to the database" if recovered
               else f"store: {health.message}; frames wait in the spool and are written "
               "when the database can take them")
    return Alert(kind="store", severity=Severity.INFO if recovered else Severity.CRITICAL,
                 message=message, uri="", plate_id=None, well=None, raised_at=now,
                 label="recovered" if recovered else "unwritable")
