"""``FolderSource``: frames from a folder the microscope saves to, live or in one pass.

Watchdog events are only hints (close events get lost, created events come at size 0 or
twice; see reference/micromanager.md §5). One checker thread dedupes by path and reads a file
once its size and mtime have been stable for ``settle_s`` (at once on a ``closed`` hint) and
it parses. A periodic rescan catches anything the observer missed. NDTiff datasets are
followed through their index, never read as plain TIFFs (``tails``); the root's watch is
re-armed when the folder is deleted and re-created (``root``).

No file stops the source: an error on a file fails that file with its reason, after retries
for ``give_up_s`` when it may recover (permission denied while another program holds it,
replaced while read). A file changed after delivery (a re-acquisition) is a new frame.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.base import FrameSink, KnownCheck, SourceCounts, SourceHealth
from edge_app.sources.folder.candidates import Candidates, Pending, Signature, wait_options
from edge_app.sources.folder.events import NotAFile, file_signature, walk_error
from edge_app.sources.folder.meta import ImageReader, file_frame
from edge_app.sources.folder.mm_layout import MetadataTxtCache
from edge_app.sources.folder.ndtiff_live import INDEX_FILE, STACK_MARK
from edge_app.sources.folder.root import RootWatch
from edge_app.sources.folder.tails import DatasetTails
from edge_app.sources.naming import AutoNamePattern, NameParser, get_name_pattern
from edge_app.sources.readers import FileAccessError, IncompleteFile, UnreadableFrame, read_image

log = logging.getLogger(__name__)

DEFAULT_PATTERNS = ("*.tif", "*.tiff", "*.png", "*.jpg", "*.jpeg")
class FolderSource:
    """Frames from image files (and NDTiff datasets) under ``root``.

    Args:
        root: Folder to watch (recursively).
        patterns: File-name globs of images (case-insensitive).
        name_pattern: Preset name (``slimia``, ``plate-well-site-time``) or a regex; ``None``
            tries the presets in ``naming.PRESET_ORDER`` and says which matched.
        polling: Use watchdog's ``PollingObserver`` (network shares) instead of inotify.
        settle_s: How long size and mtime must stay unchanged before a file is read.
        rescan_s: Period of the full rescan that catches lost events.
        once: Scan what is there, deliver it, then ``wait()`` returns True.
        is_known: Store check; a known file is skipped (restart reconcile).
        clock: Monotonic time source, injected for tests.
        give_up_s: How long a file that may recover (incomplete, locked, replaced while
            read) is retried before it is recorded as failed.
        reader: Reads one image file (default ``read_image``); tests inject faults here.
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
        reader: ImageReader | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"folder source root {self.root} is not a directory")
        self._names: NameParser = (get_name_pattern(name_pattern) if name_pattern
                                   else AutoNamePattern())
        self._once, self._is_known, self._clock = once, is_known, clock
        self._reader: ImageReader = reader if reader is not None else read_image
        opts = wait_options(settle_s, rescan_s, give_up_s, once)
        self._settle, self._rescan, self._give_up = opts.settle, opts.rescan, opts.give_up
        self._cond = threading.Condition()
        self._hints: dict[str, str] = {}
        self._stop = False
        self._done = threading.Event()
        self._counts = SourceCounts()
        self._health = SourceHealth(state="not started")
        self._files = Candidates(patterns, clock)
        self._tails = DatasetTails(
            self.root, names=self._names, give_up_s=self._give_up, clock=clock,
            is_known=lambda uri: self._known(uri, -1, -1), deliver=self._deliver,
            seen=lambda: self._add_counts(seen=1))
        self._mm = MetadataTxtCache()
        self._sink: FrameSink | None = None
        self._watch = RootWatch(self.root, self._push_hint, polling=polling,
                                interval_s=min(1.0, max(0.1, self._settle)))
        self._checker: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def open(self, sink: FrameSink) -> None:
        """Start the observer (unless ``once``) and the checker thread."""
        if self._checker is not None:
            raise RuntimeError("FolderSource is already open")
        self._sink = sink
        if not self._once:
            self._watch.arm()
        self._start_checker()
        log.info("watching %s (%s, settle %.2fs, names %s)", self.root, self._mode(),
                 self._settle, self._names.describe())

    def _start_checker(self) -> None:
        self._checker = threading.Thread(target=self._run, name="folder-source", daemon=True)
        self._checker.start()

    def restart(self) -> None:
        """Start a new checker thread when the last one died (the pipeline's supervisor)."""
        with self._cond:
            if self._stop or self._done.is_set():
                return
        if self._checker is not None and self._checker.is_alive():
            return
        log.warning("folder source: restarting the checker thread on %s", self.root)
        self._start_checker()

    def wait(self, timeout: float | None = None) -> bool:
        """True once a ``once`` scan delivered everything, or after ``close()``."""
        return self._done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop and join the observer and checker threads; idempotent."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._watch.close(timeout)
        checker = self._checker
        if checker is not None:
            checker.join(timeout)
            if checker.is_alive():
                log.warning("folder source checker still running (sink blocked?)")
            else:
                self._tails.close()
        self._done.set()

    def counts(self) -> SourceCounts:
        """Frames seen, emitted, failed and skipped so far."""
        with self._cond:
            return self._counts

    def health(self) -> SourceHealth:
        """Whether the checker runs, how the folder is watched and which names matched."""
        checker = self._checker
        finished = self._done.is_set() or self._should_stop()
        alive = finished or (checker is not None and checker.is_alive())
        with self._cond:
            return replace(self._health, alive=alive, state=self.state)

    @property
    def state(self) -> str:
        """One line for ``sentinel status``: how the folder is watched, which names matched."""
        return f"{self._mode()}; names {self._names.describe()}"

    def _mode(self) -> str:
        return "once" if self._once else self._watch.state

    # -- checker thread --------------------------------------------------------------------

    def _push_hint(self, path: str, kind: str) -> None:
        with self._cond:
            if self._hints.get(path) != "closed":
                self._hints[path] = kind
            self._cond.notify()

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # recorded; the supervisor restarts us
            self._error(f"folder source checker died: {type(exc).__name__}: {exc}")
            log.exception("folder source checker stopped")
        finally:
            if self._stop or self._done.is_set():
                self._tails.close()

    def _loop(self) -> None:
        next_scan = next_root_check = self._clock()
        errors_in_a_row = 0
        while not self._should_stop():
            try:
                if not self._once and self._clock() >= next_root_check:
                    next_root_check = self._clock() + 1.0
                    outcome = self._watch.check()
                    if outcome == "removed":  # a source error: the pipeline alerts on it
                        self._error(f"watched folder {self.root} was removed; waiting for it")
                    elif outcome == "re-armed":
                        next_scan = self._clock()
                if self._clock() >= next_scan and not self._watch.missing:
                    self._scan(self.root)
                    next_scan = self._clock() + (math.inf if self._once else self._rescan)
                if self._step(next_scan):
                    self._done.set()
                    return
                errors_in_a_row = 0
            except Exception as exc:  # never let one bad round stop the watching
                errors_in_a_row += 1
                self._error(f"folder source error: {type(exc).__name__}: {exc}")
                log.exception("folder source: error in the checker loop; going on")
                if self._once and errors_in_a_row >= 5:  # --once must end
                    self._error(f"one-pass scan of {self.root} ended early after 5 errors")
                    self._done.set()
                    return
                with self._cond:
                    self._cond.wait(1.0)

    def _step(self, next_scan: float) -> bool:
        """One round: take hints, follow NDTiff tails, check files that are due.

        Returns True when a ``once`` scan has delivered everything.
        """
        for path, kind in self._take_hints(self._wait_s(next_scan)):
            self._note(Path(path), kind)
        self._tails.poll(everything=self._once, stop=self._should_stop)
        self._tails.retry()
        self._check_due()
        return self._once and not (self._files.pending or self._hints or self._tails.retries)

    def _error(self, message: str) -> None:
        with self._cond:
            self._health = replace(self._health, error=message, errors=self._health.errors + 1)

    def _should_stop(self) -> bool:
        return self._stop

    def _wait_s(self, next_scan: float) -> float:
        now = self._clock()
        wake = min(self._files.next_due(default=next_scan), next_scan)
        if self._tails.retries:
            wake = min(wake, now + self._settle)
        return max(0.0, min(wake - now, self._rescan, 1.0))

    def _take_hints(self, timeout: float) -> list[tuple[str, str]]:
        with self._cond:
            if not self._hints and not self._stop and timeout > 0:
                self._cond.wait(timeout)
            hints, self._hints = list(self._hints.items()), {}
        return hints

    def _scan(self, top: Path) -> None:
        for folder, dirnames, filenames in os.walk(top, followlinks=False,
                                                   onerror=self._walk_error):
            here = Path(folder)
            if INDEX_FILE in filenames:
                self._note(here / INDEX_FILE, "changed")
                dirnames[:] = []
                continue
            for file_name in filenames:
                self._note(here / file_name, "changed")

    def _walk_error(self, error: OSError) -> None:
        walk_error(error)
        if not isinstance(error, FileNotFoundError):  # a folder removed meanwhile is no error
            self._error(f"cannot list {error.filename}: {error.strerror or error}")

    def _note(self, path: Path, kind: str) -> None:
        if kind == "dir":
            self._scan(path)
            return
        if path.name == INDEX_FILE or STACK_MARK in path.name:
            self._tails.dirty.add(path.parent)
            return
        if self._tails.covers(path.parent):
            return
        if self._files.note(str(path), closed=kind == "closed"):
            self._add_counts(seen=1)

    def _check_due(self) -> None:
        for key, pending in self._files.due():
            if self._should_stop():
                return
            try:
                self._check(key, pending)
            except Exception as exc:  # a bug on one file fails that file, never the source
                log.exception("folder source: unexpected error on %s", key)
                self._fail(key, f"unexpected error: {type(exc).__name__}: {exc}")

    def _check(self, key: str, pending: Pending) -> None:
        now = self._clock()
        try:
            signature = Signature(*file_signature(Path(key)))
        except FileNotFoundError:
            if pending.signature is None:  # gone before it was ever seen whole: a temp file
                self._files.forget(key)
            else:
                self._fail(key, "file vanished before it could be read (deleted or renamed)")
            return
        except NotAFile as exc:
            self._fail(key, str(exc))
            return
        if self._files.settling(pending, signature, now, self._settle):
            return
        self._attempt(key, pending, signature, now)

    def _attempt(self, key: str, pending: Pending, signature: Signature, now: float) -> None:
        if self._known(key, signature.size, signature.mtime_ns):
            self._files.finish(key, signature)
            return
        stable_for = now - pending.stable_since
        try:
            frame = file_frame(Path(key), (signature.size, signature.mtime_ns), self.root,
                               self._names, self._mm, self._reader)
        except IncompleteFile as exc:
            self._retry_or_fail(key, pending, f"{exc.reason} (unchanged for {stable_for:.1f}s)",
                                now, since=pending.stable_since)
            return
        except FileAccessError as exc:
            self._access_failed(key, pending, exc, now)
            return
        except UnreadableFrame as exc:
            self._fail(key, exc.reason)
            return
        except OSError as exc:  # a reader that let an OSError through
            self._access_failed(key, pending, FileAccessError.of(exc), now)
            return
        if self._replaced_while_read(key, pending, signature, now):
            return
        self._files.finish(key, signature)
        self._deliver(frame)

    def _access_failed(self, key: str, pending: Pending, exc: FileAccessError, now: float
                       ) -> None:
        if exc.vanished and not os.path.lexists(key):
            self._fail(key, exc.reason)
        else:  # locked, unreadable for now, or replaced under us: it may recover
            self._retry_or_fail(key, pending, exc.reason, now)

    def _replaced_while_read(self, key: str, pending: Pending, before: Signature, now: float
                             ) -> bool:
        """True (and a retry is due) when the file changed while it was being read.

        A file gone right after a whole read is delivered (it was read before it went).
        """
        try:
            after = Signature(*file_signature(Path(key)))
        except (FileNotFoundError, NotAFile):
            return False
        if after == before:
            return False
        log.info("%s changed while it was read; reading it again once it settles", key)
        pending.signature, pending.stable_since = after, now
        self._retry_or_fail(key, pending, "file kept changing while it was read", now)
        return True

    def _retry_or_fail(self, key: str, pending: Pending, reason: str, now: float,
                       since: float | None = None) -> None:
        """Retry a file that may recover; fail it with ``reason`` once ``give_up_s`` passed."""
        if not self._files.retry_later(pending, now, self._give_up, self._settle, since):
            self._fail(key, reason)

    def _known(self, uri: str, size: int, mtime_ns: int) -> bool:
        if self._is_known is None:
            return False
        try:
            known = self._is_known(uri, size, mtime_ns)
        except Exception as exc:  # the store cannot answer: read it; the store dedupes
            log.warning("cannot ask the store about %s (%s); reading it", uri, exc)
            return False
        if known:
            self._add_counts(skipped_known=1)
        return known

    def _fail(self, key: str, reason: str) -> None:
        signature = self._files.fail(key)
        size, mtime_ns = (signature.size, signature.mtime_ns) if signature else (-1, -1)
        self._deliver(FrameFailure(key, reason, size=size, mtime_ns=mtime_ns))

    def _deliver(self, item: Frame | FrameFailure) -> None:
        failed = isinstance(item, FrameFailure)
        uri = item.uri if isinstance(item, FrameFailure) else item.meta.uri
        if isinstance(item, FrameFailure):
            log.warning("cannot use %s: %s", uri, item.reason)
        self._add_counts(failed=int(failed), emitted=int(not failed))
        assert self._sink is not None
        try:
            self._sink(item)
        except Exception:
            log.exception("frame sink raised for %s", uri)

    def _add_counts(self, **delta: int) -> None:
        with self._cond:
            current = self._counts
            self._counts = replace(
                current, **{k: getattr(current, k) + v for k, v in delta.items()}
            )
