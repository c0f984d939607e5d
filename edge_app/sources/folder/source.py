"""``FolderSource``: frames from a folder the microscope saves to, live or in one pass.

Watchdog events are only hints (close events get lost, created events come at size 0 or
twice; see reference/micromanager.md §5). One checker thread dedupes by path and reads a file
once its size and mtime have been stable for ``settle_s`` (at once on a ``closed`` hint) and
it parses. A periodic rescan catches anything the observer missed. NDTiff datasets are
followed through their index, never read as plain TIFFs.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.base import FrameSink, KnownCheck, SourceCounts
from edge_app.sources.folder.events import EventHints, NotAFile, file_signature, walk_error
from edge_app.sources.folder.meta import entry_frame, file_frame
from edge_app.sources.folder.mm_layout import MetadataTxtCache
from edge_app.sources.folder.ndtiff_live import INDEX_FILE, STACK_MARK, NDTiffEntry, NDTiffTail
from edge_app.sources.naming import NamePattern, get_name_pattern
from edge_app.sources.readers import IncompleteFile, UnreadableFrame

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.tif", "*.tiff", "*.png", "*.jpg", "*.jpeg")


@dataclass
class _Pending:
    """Checker-thread state of one candidate file."""

    signature: tuple[int, int] | None = None
    stable_since: float = 0.0
    due: float = 0.0
    closed: bool = False


class FolderSource:
    """Frames from image files (and NDTiff datasets) under ``root``.

    Args:
        root: Folder to watch (recursively).
        patterns: File-name globs of images (case-insensitive).
        name_pattern: Preset name (``slimia``, ``plate-well-site-time``) or a regex.
        polling: Use watchdog's ``PollingObserver`` (network shares) instead of inotify.
        settle_s: How long size and mtime must stay unchanged before a file is read.
        rescan_s: Period of the full rescan that catches lost events.
        once: Scan what is there, deliver it, then ``wait()`` returns True.
        is_known: Store check; a known file is skipped (restart reconcile).
        clock: Monotonic time source, injected for tests.
        give_up_s: Stable time after which a still-incomplete file is recorded as failed.
    """

    name = "folder"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        patterns: Iterable[str] = DEFAULT_PATTERNS,
        name_pattern: str | None = None,
        polling: bool = False,
        settle_s: float = 0.5,
        rescan_s: float = 5.0,
        once: bool = False,
        is_known: KnownCheck | None = None,
        clock: Callable[[], float] = time.monotonic,
        give_up_s: float | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"folder source root {self.root} is not a directory")
        self._patterns = tuple(p.lower() for p in patterns)
        self._name: NamePattern | None = get_name_pattern(name_pattern) if name_pattern else None
        self._polling, self._once = polling, once
        self._settle, self._rescan = settle_s, rescan_s
        self._give_up = give_up_s if give_up_s is not None else max(2.0, 4 * settle_s)
        self._is_known, self._clock = is_known, clock
        self._cond = threading.Condition()
        self._hints: dict[str, str] = {}
        self._stop = False
        self._done = threading.Event()
        self._counts = SourceCounts()
        self._pending: dict[str, _Pending] = {}
        self._finished: set[str] = set()
        self._gave_up: dict[str, tuple[int, int]] = {}
        self._tails: dict[Path, NDTiffTail] = {}
        self._dirty_tails: set[Path] = set()
        self._entry_retries: dict[str, tuple[NDTiffTail, NDTiffEntry, float]] = {}
        self._mm = MetadataTxtCache()
        self._sink: FrameSink | None = None
        self._observer: BaseObserver | None = None
        self._checker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self, sink: FrameSink) -> None:
        """Start the observer (unless ``once``) and the checker thread."""
        if self._checker is not None:
            raise RuntimeError("FolderSource is already open")
        self._sink = sink
        if not self._once:
            interval = min(1.0, self._settle)
            observer = PollingObserver(timeout=interval) if self._polling else Observer()
            observer.schedule(EventHints(self._push_hint), str(self.root), recursive=True)
            observer.daemon = True
            observer.start()
            self._observer = observer
        self._checker = threading.Thread(target=self._run, name="folder-source", daemon=True)
        self._checker.start()
        log.info("watching %s (%s, settle %.2fs)", self.root, self._mode(), self._settle)

    def wait(self, timeout: float | None = None) -> bool:
        """True once a ``once`` scan delivered everything, or after ``close()``."""
        return self._done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop and join the observer and checker threads; idempotent."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout)
            self._observer = None
        if self._checker is not None:
            self._checker.join(timeout)
            if self._checker.is_alive():
                log.warning("folder source checker still running (sink blocked?)")
            else:
                self._checker = None
        self._done.set()

    def counts(self) -> SourceCounts:
        """Frames seen, emitted, failed and skipped so far."""
        with self._cond:
            return self._counts

    def _mode(self) -> str:
        return "once" if self._once else "polling" if self._polling else "inotify"

    # -- checker thread --------------------------------------------------------------------

    def _push_hint(self, path: str, kind: str) -> None:
        with self._cond:
            if self._hints.get(path) != "closed":
                self._hints[path] = kind
            self._cond.notify()

    def _run(self) -> None:
        try:
            self._scan(self.root)
            next_scan = self._clock() + self._rescan
            while not self._should_stop():
                for path, kind in self._take_hints(self._wait_s(next_scan)):
                    self._note(Path(path), kind)
                if self._clock() >= next_scan and not self._once:
                    self._scan(self.root)
                    next_scan = self._clock() + self._rescan
                self._poll_tails()
                self._retry_entries()
                self._check_due()
                if self._once and not (self._pending or self._hints or self._entry_retries):
                    self._done.set()
                    break
        except Exception:
            log.exception("folder source checker stopped on an unexpected error")
        finally:
            for tail in self._tails.values():
                tail.close()

    def _should_stop(self) -> bool:
        with self._cond:
            return self._stop

    def _wait_s(self, next_scan: float) -> float:
        now = self._clock()
        due = min((p.due for p in self._pending.values()), default=next_scan)
        wake = min(due, next_scan) if not self._once else due
        if self._entry_retries:
            wake = min(wake, now + self._settle)
        return max(0.0, min(wake - now, self._rescan, 1.0))

    def _take_hints(self, timeout: float) -> list[tuple[str, str]]:
        with self._cond:
            if not self._hints and not self._stop and timeout > 0:
                self._cond.wait(timeout)
            hints, self._hints = list(self._hints.items()), {}
        return hints

    def _scan(self, top: Path) -> None:
        for folder, dirnames, filenames in os.walk(top, followlinks=False, onerror=walk_error):
            here = Path(folder)
            if INDEX_FILE in filenames:
                self._note(here / INDEX_FILE, "changed")
                dirnames[:] = []
                continue
            for file_name in filenames:
                self._note(here / file_name, "changed")

    def _note(self, path: Path, kind: str) -> None:
        if kind == "dir":
            self._scan(path)
            return
        if path.name == INDEX_FILE or STACK_MARK in path.name:
            self._dirty_tails.add(path.parent)
            return
        key = str(path)
        if not self._matches(path.name) or path.parent in self._tails or key in self._finished:
            return
        if key in self._gave_up and not self._changed_since_give_up(key, path):
            return
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(due=self._clock())
            self._add_counts(seen=1)
        if kind == "closed":
            pending.closed, pending.due = True, self._clock()

    def _matches(self, file_name: str) -> bool:
        lowered = file_name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in self._patterns)

    def _changed_since_give_up(self, key: str, path: Path) -> bool:
        try:
            signature = file_signature(path)
        except (NotAFile, FileNotFoundError):
            return False
        if signature == self._gave_up[key]:
            return False
        del self._gave_up[key]
        return True

    def _check_due(self) -> None:
        now = self._clock()
        for key in [k for k, p in self._pending.items() if p.due <= now]:
            if self._should_stop():
                return
            self._check(key, self._pending[key])

    def _check(self, key: str, pending: _Pending) -> None:
        now = self._clock()
        try:
            signature = file_signature(Path(key))
        except FileNotFoundError:
            del self._pending[key]  # deleted or renamed (temp file); nothing to record
            return
        except NotAFile as exc:
            self._fail(key, str(exc))
            return
        if signature != pending.signature:
            pending.signature, pending.stable_since = signature, now
            if not pending.closed:
                pending.due = now + self._settle
                return
        elif not pending.closed and now - pending.stable_since < self._settle:
            pending.due = pending.stable_since + self._settle
            return
        pending.closed = False
        self._attempt(key, pending, signature, now)

    def _attempt(self, key: str, pending: _Pending, signature: tuple[int, int], now: float) -> None:
        size, mtime_ns = signature
        if self._is_known is not None and self._is_known(key, size, mtime_ns):
            self._finish(key)
            self._add_counts(skipped_known=1)
            return
        stable_for = now - pending.stable_since
        try:
            frame = file_frame(Path(key), signature, self.root, self._name, self._mm)
        except IncompleteFile as exc:
            if stable_for >= self._give_up:
                self._gave_up[key] = signature
                self._fail(key, f"{exc.reason} (unchanged for {stable_for:.1f}s)")
            else:
                pending.due = now + self._settle
            return
        except UnreadableFrame as exc:
            if stable_for >= self._settle:
                self._fail(key, exc.reason)
            else:
                pending.due = pending.stable_since + self._settle
            return
        self._finish(key)
        self._emit(frame)

    def _poll_tails(self) -> None:
        dirty, self._dirty_tails = self._dirty_tails, set()
        if self._once:
            dirty |= set(self._tails)
        for folder in dirty:
            tail = self._tails.get(folder)
            if tail is None:
                if not (folder / INDEX_FILE).is_file():
                    continue
                tail = self._tails[folder] = NDTiffTail(folder)
                log.info("following NDTiff dataset %s", folder)
            for entry in tail.poll():
                if self._should_stop():
                    return
                self._deliver_entry(tail, entry)

    def _deliver_entry(
        self, tail: NDTiffTail, entry: NDTiffEntry, first_failed: float | None = None
    ) -> None:
        if first_failed is None:
            self._add_counts(seen=1)
            if self._is_known is not None and self._is_known(entry.uri, -1, -1):
                self._add_counts(skipped_known=1)
                return
        try:
            frame = entry_frame(tail, entry, self.root, self._name)
        except UnreadableFrame as exc:
            now = self._clock()
            started = now if first_failed is None else first_failed
            if now - started >= self._give_up:  # pixels never became readable
                self._record_failure(FrameFailure(entry.uri, exc.reason))
            else:  # the writer may not have flushed the pixels yet
                self._entry_retries[entry.uri] = (tail, entry, started)
            return
        self._emit(frame)

    def _retry_entries(self) -> None:
        retries, self._entry_retries = self._entry_retries, {}
        for tail, entry, started in retries.values():
            self._deliver_entry(tail, entry, started)

    def _finish(self, key: str) -> None:
        self._pending.pop(key, None)
        self._finished.add(key)

    def _fail(self, key: str, reason: str) -> None:
        pending = self._pending.pop(key, None)
        if key not in self._gave_up:
            self._finished.add(key)
        size, mtime_ns = pending.signature if pending and pending.signature else (-1, -1)
        self._record_failure(FrameFailure(key, reason, size=size, mtime_ns=mtime_ns))

    def _record_failure(self, failure: FrameFailure) -> None:
        log.warning("cannot use %s: %s", failure.uri, failure.reason)
        self._add_counts(failed=1)
        self._call_sink(failure)

    def _emit(self, frame: Frame) -> None:
        self._add_counts(emitted=1)
        self._call_sink(frame)

    def _call_sink(self, item: Frame | FrameFailure) -> None:
        assert self._sink is not None
        try:
            self._sink(item)
        except Exception:
            uri = item.meta.uri if isinstance(item, Frame) else item.uri
            log.exception("frame sink raised for %s", uri)

    def _add_counts(self, **delta: int) -> None:
        with self._cond:
            current = self._counts
            self._counts = replace(
                current, **{k: getattr(current, k) + v for k, v in delta.items()}
            )
