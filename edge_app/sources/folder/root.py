"""The watch on the folder source's root: armed, checked, re-armed, or polled instead.

A native watch (inotify, ReadDirectoryChangesW, FSEvents) dies with its folder: when the
watched root is deleted, watchdog's emitter stops and a re-created folder of the same name is
never watched again. :class:`RootWatch` notices (the folder is missing, its identity changed,
or the emitter stopped), says so, and re-arms a new observer once the folder is back. When a
native observer cannot be started it switches to polling and says that too.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from edge_app.sources.folder.events import EventHints

log = logging.getLogger(__name__)


def folder_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a folder, or ``None`` when it is missing or not a folder."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not os.path.isdir(path):
        return None
    return info.st_dev, info.st_ino


class RootWatch:
    """One observer on ``root``; :meth:`check` re-arms it when the root went away and came back.

    ``check`` returns ``"removed"`` once when the root disappears, ``"re-armed"`` when a new
    observer watches a root that came back (rescan it then), else ``None``.
    """

    def __init__(
        self,
        root: Path,
        push: Callable[[str, str], None],
        *,
        polling: bool,
        interval_s: float,
        observer_factory: Callable[[bool, float], BaseObserver] | None = None,
    ) -> None:
        self.root, self._push, self._interval = root, push, interval_s
        self._polling = polling
        self._factory = observer_factory or _new_observer
        self._observer: BaseObserver | None = None
        self._identity: tuple[int, int] | None = None
        self._missing = False
        self._closed = False
        self._lock = threading.Lock()  # check() on the checker thread vs close()
        self.note = ""

    @property
    def state(self) -> str:
        """One line: how the folder is watched now."""
        if self._missing:
            return "folder missing (waiting for it to come back)"
        kind = "polling" if self._polling else "native watch"
        return f"{kind}{f' ({self.note})' if self.note else ''}"

    @property
    def missing(self) -> bool:
        return self._missing

    def arm(self) -> None:
        """Start an observer on the root (native unless polling; polling when native fails)."""
        self._identity = folder_identity(self.root)
        try:
            self._observer = self._start(self._polling)
        except OSError as exc:
            if self._polling:
                raise
            self._polling = True
            self.note = f"native watch failed: {exc}"
            log.warning("cannot watch %s natively (%s); polling it every %.1fs instead",
                        self.root, exc, self._interval)
            self._observer = self._start(True)

    def _start(self, polling: bool) -> BaseObserver:
        observer = self._factory(polling, self._interval)
        observer.schedule(EventHints(self._push), str(self.root), recursive=True)
        observer.daemon = True
        observer.start()
        return observer

    def check(self) -> str | None:
        """Notice a removed, re-created or unwatched root; re-arm when it is back."""
        with self._lock:
            return None if self._closed else self._check()

    def _check(self) -> str | None:
        identity = folder_identity(self.root)
        if identity is None:
            if not self._missing:
                self._missing = True
                log.warning("watched folder %s was removed; waiting for it to come back",
                            self.root)
                return "removed"
            return None
        came_back = self._missing or identity != self._identity
        if not came_back and self._observer_alive():
            return None
        why = "was re-created" if came_back else "lost its watch"
        self._missing = False
        self.stop()
        self.arm()
        self.note = self.note or f"re-armed: the folder {why}"
        log.warning("watched folder %s %s; %s re-armed and the folder rescanned", self.root,
                    why, "polling" if self._polling else "native watch")
        return "re-armed"

    def _observer_alive(self) -> bool:
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in observer.emitters)

    def close(self, timeout: float | None = None) -> None:
        """Stop watching for good (a ``check`` after this does nothing)."""
        with self._lock:
            self._closed = True
            self.stop(timeout)

    def stop(self, timeout: float | None = None) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout)


def _new_observer(polling: bool, interval_s: float) -> BaseObserver:
    return PollingObserver(timeout=interval_s) if polling else Observer()
