"""``Spool``: the durable, append-only journal of writes the database could not take yet.

It lives beside the database (``run.sqlite`` -> ``run.sqlite.spool``), one JSON entry per
line. Each append is fsynced before the frame counts as done, so a SIGKILL or power loss
after the append loses nothing; a torn last line (a crash during the append, never
acknowledged) is cut off when the spool is opened again. Replaying writes the entries in
order; what was written is removed by rewriting the rest atomically (write, fsync, rename).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".spool"


def spool_path(db: str | os.PathLike[str]) -> Path:
    """Where the spool of the database ``db`` lives."""
    path = Path(db)
    return path.with_name(path.name + SUFFIX)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # NTFS has no directory handles to fsync; the rename is journalled
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class Spool:
    """Append-only fsynced JSON-lines file of store entries, replayed in order."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._count = len(self._repair_and_read())

    def __len__(self) -> int:
        return self._count

    def _repair_and_read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            log.warning("spool %s: cut off a torn last entry (%d bytes, never acknowledged)",
                        self.path.name, len(data) - end)
            with self.path.open("r+b") as handle:
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
        return self._parse(data[:end])

    def _parse(self, data: bytes) -> list[dict[str, Any]]:
        entries = []
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                log.error("spool %s: line %d is not an entry; skipped", self.path.name, number)
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries

    def read(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        return self._parse(self.path.read_bytes())

    def append(self, entries: Sequence[dict[str, Any]]) -> None:
        """Append ``entries`` and fsync; raise ``OSError`` (and leave no partial line) if the
        disk cannot take them."""
        if not entries:
            return
        data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0),
                     0o644)
        try:
            before = os.fstat(fd).st_size
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, before)
                except OSError:
                    log.debug("spool %s: could not cut a partial append", self.path.name)
                raise
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        self._count += len(entries)

    def replace(self, entries: Sequence[dict[str, Any]]) -> None:
        """Keep only ``entries`` (the ones not yet replayed); an empty spool is removed."""
        if not entries:
            self.path.unlink(missing_ok=True)
            self._count = 0
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.unlink(missing_ok=True)
        Spool(temporary).append(entries)
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)
        self._count = len(entries)
