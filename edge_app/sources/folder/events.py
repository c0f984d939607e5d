"""Watchdog events as path hints, and the stat check that tells a file from anything else."""

from __future__ import annotations

import logging
import os
import stat as stat_mod
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler

log = logging.getLogger(__name__)

#: Events that never mean "new data": includes the source's own reads (opened, closed_no_write).
IGNORED_EVENTS = frozenset({"opened", "closed_no_write", "deleted", "attrib"})


class NotAFile(Exception):
    """A candidate path that is not a readable regular file (reason in the message)."""


class EventHints(FileSystemEventHandler):
    """Turns watchdog events into path hints; the source's own reads are filtered out."""

    def __init__(self, push: Callable[[str, str], None]) -> None:
        super().__init__()
        self._push = push

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in IGNORED_EVENTS:
            return
        path = event.dest_path if event.event_type == "moved" else event.src_path
        path = os.fsdecode(path)
        if event.is_directory:
            if event.event_type in ("created", "moved"):
                self._push(path, "dir")
            return
        self._push(path, "closed" if event.event_type == "closed" else "changed")


def file_signature(path: Path) -> tuple[int, int]:
    """(size, mtime_ns) of a regular file; ``NotAFile`` with a reason for anything else."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise NotAFile("broken symbolic link") from None
        raise
    except OSError as exc:
        raise NotAFile(f"cannot stat ({exc.strerror or exc}; symlink loop?)") from exc
    if not stat_mod.S_ISREG(info.st_mode):
        if stat_mod.S_ISDIR(info.st_mode):
            raise FileNotFoundError(path)  # a folder named like an image: not a candidate
        raise NotAFile("not a regular file (fifo, socket or device)")
    return info.st_size, info.st_mtime_ns


def walk_error(error: OSError) -> None:
    """``os.walk`` error hook: log and go on."""
    log.warning("cannot list %s: %s", error.filename, error.strerror)
