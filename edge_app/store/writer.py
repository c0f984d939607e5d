"""``StoreWriter``: the one thread that writes to the store, fed through a queue.

Frame results and failures arrive as *entries* (:mod:`edge_app.store.rows`) through
:meth:`StoreWriter.write`. A write that fails for a passing reason (a lock, a full disk, an
I/O error) is retried with backoff; while the database cannot take it, the entry goes to the
durable spool beside the database (or, if even that fails, stays in memory) and is written
later, in order: on a later retry, at :meth:`flush`, at the latest on the next start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from psygnal import Signal

from edge_app.store import rows
from edge_app.store.database import Store, StoreError
from edge_app.store.health import TRANSIENT, StoreHealth, describe
from edge_app.store.spool import Spool, spool_path

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()
_QUICK_RETRIES = (0.05, 0.2)  # pauses between the attempts of a fresh write
_BACKOFF = (0.25, 5.0)  # first and longest pause between replays of the backlog


@dataclass(frozen=True)
class WriteOutcome:
    """Where an entry ended: in the database (``frame_id`` None = already there), in the
    spool, or only in memory; ``status``/``reason`` are the frame's as written."""

    where: Literal["db", "spool", "memory"]
    frame_id: int | None
    status: str | None
    reason: str | None = None


@dataclass
class _Write:
    entry: rows.Entry
    future: Future


class StoreWriter:
    """Runs every write on one thread with its own connection; callers get a ``Future``.

    Reads from other threads use :meth:`reader`, a per-thread read connection (WAL lets
    readers and the writer work at the same time). ``health_changed`` is emitted on the
    writer thread with a :class:`~edge_app.store.health.StoreHealth` whenever it changes.
    """

    health_changed = Signal(object)

    def __init__(self, path: str | Path, *, start_wait_s: float = 10.0,
                 spool: Spool | None = None, clock: Callable[[], float] = time.monotonic,
                 busy_timeout_ms: int = 1000) -> None:
        self.path = Path(path)
        self._clock = clock
        self._store = Store(self.path, busy_timeout_ms=busy_timeout_ms)
        try:
            self._store.check_writable(start_wait_s)
            self.spool = spool if spool is not None else Spool(spool_path(self.path))
        except BaseException:
            self._store.close()
            raise
        self._held: deque[_Write] = deque()
        self._health = StoreHealth(spooled=len(self.spool))
        self._next_retry = 0.0
        self._backoff = _BACKOFF[0]
        if len(self.spool):
            log.warning("store %s: replaying %d spooled writes", self.path.name, len(self.spool))
            self._retry()
        self._ops: queue.Queue = queue.Queue()
        self._local = threading.local()
        self._readers: list[Store] = []
        self._readers_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # --- writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while (item := self._next_item()) is not _STOP:
                try:
                    self._handle(item)
                except Exception as exc:  # a bug must not stop the one writer thread
                    log.exception("store writer: unexpected error")
                    future = item.future if isinstance(item, _Write) else None
                    if future is not None and not future.done():
                        future.set_exception(exc)
                    self._next_retry = self._clock() + _BACKOFF[1]
            if self._backlogged():
                self._retry()
        finally:
            self._store.close()

    def _handle(self, item: Any) -> None:
        if item is None:
            self._retry()
        elif isinstance(item, _Write):
            self._write(item)
        else:
            self._call(*item)

    def _backlogged(self) -> bool:
        return bool(len(self.spool) or self._held)

    def _next_item(self) -> Any:
        """The next queued item, or ``None`` when a replay of the backlog is due."""
        if not self._backlogged():
            return self._ops.get()
        wait = self._next_retry - self._clock()
        if wait <= 0:
            return None
        try:
            return self._ops.get(timeout=wait)
        except queue.Empty:
            return None

    def _apply(self, entry: rows.Entry) -> tuple[int | None, rows.Entry]:
        """Write ``entry``; a value SQLite refuses makes the frame a failure with the reason.
        Passing errors (locks, full disk) are raised for the caller to retry or spool."""
        try:
            return self._store.apply(entry), entry
        except TRANSIENT:
            raise
        except Exception as exc:  # a value the database refuses: record why, do not lose it
            if entry.get("kind") != "frame":
                log.error("store refused an alert, dropped: %s: %s", exc, entry.get("alert"))
                return None, entry
            log.warning("store refused %s: %s", entry["frame"].get("uri"), exc)
            failed = rows.refused(entry, exc)
            return self._store.apply(failed), failed

    def _write(self, item: _Write) -> None:
        if self._backlogged():
            self._park(item)
            return
        started = self._clock()
        for pause in (*_QUICK_RETRIES, None):
            try:
                frame_id, written = self._apply(item.entry)
            except TRANSIENT as exc:
                if pause is None:
                    self._failed(exc, started)
                    self._park(item)
                    return
                time.sleep(pause)
            else:
                item.future.set_result(_outcome("db", frame_id, written))
                return

    def _park(self, item: _Write) -> None:
        """Keep an entry the database cannot take now: in the spool, else in memory."""
        if not self._held:
            try:
                self.spool.append([item.entry])
            except OSError as exc:
                self._failed(exc)
            else:
                item.future.set_result(_outcome("spool", None, item.entry))
                self._publish(self._health)
                return
        self._held.append(item)
        item.future.set_result(_outcome("memory", None, item.entry))
        self._publish(self._health)

    def _retry(self) -> None:
        """Replay the spool in order, then the entries held in memory; back off on failure."""
        pending: list[rows.Entry] = []
        done = 0
        try:
            pending = self.spool.read()
            for entry in pending:
                self._apply(entry)
                done += 1
            if pending:
                self.spool.replace([])
            while self._held:
                self._apply(self._held[0].entry)
                self._held.popleft()
        except TRANSIENT as exc:
            self._keep_rest(pending[done:] if pending else None)
            self._failed(exc)
            self._next_retry = self._clock() + self._backoff
            self._backoff = min(2 * self._backoff, _BACKOFF[1])
            return
        self._backoff = _BACKOFF[0]
        if pending or not self._health.ok:
            log.warning("store %s: writes work again; %d spooled writes replayed",
                        self.path.name, len(pending))
        self._publish(StoreHealth())

    def _keep_rest(self, rest: list[rows.Entry] | None) -> None:
        """After a partial replay: drop what was written from the spool (``None``: the spool
        was not read, leave it), and move what waits in memory to it."""
        try:
            if rest is not None and len(rest) != len(self.spool):
                self.spool.replace(rest)
            if self._held:
                self.spool.append([held.entry for held in self._held])
                self._held.clear()
        except OSError:
            log.debug("spool %s cannot be rewritten now", self.spool.path.name, exc_info=True)

    def _failed(self, exc: BaseException, started: float | None = None) -> None:
        since = self._health.since
        if since is None:
            since = started if started is not None else self._clock()
        message = describe(exc, self.path.parent, self._clock() - since)
        if self._health.ok:
            log.error("store %s: %s; frames go to the spool %s", self.path.name, message,
                      self.spool.path.name)
        self._publish(StoreHealth(False, message, since=since))

    def _publish(self, health: StoreHealth) -> None:
        health = StoreHealth(health.ok, health.message, len(self.spool), len(self._held),
                             health.since)
        if health != self._health:
            self._health = health
            self.health_changed.emit(health)

    def _call(self, op: Callable[[Store], Any], future: Future) -> None:
        if not future.set_running_or_notify_cancel():
            return
        for pause in (*_QUICK_RETRIES, 1.0, 2.0, None):
            try:
                future.set_result(op(self._store))
                return
            except TRANSIENT as exc:
                if pause is None:
                    message = describe(exc, self.path.parent, sum(_QUICK_RETRIES) + 3.0)
                    future.set_exception(StoreError(f"store {self.path}: {message}"))
                    return
                time.sleep(pause)
            except BaseException as exc:  # handed to the caller through the future
                log.warning("store operation failed: %s: %s", type(exc).__name__, exc)
                future.set_exception(exc)
                return

    # --- callers ------------------------------------------------------------------------
    def write(self, entry: rows.Entry) -> Future[WriteOutcome]:
        """Queue a durable write; the future says where it ended (database, spool, memory)."""
        future: Future[WriteOutcome] = Future()
        self._check_open()
        self._ops.put(_Write(entry, future))
        return future

    def submit(self, op: Callable[[Store], T]) -> Future[T]:
        """Queue ``op(store)`` to run on the writer thread (not spooled: reads, runs, plates)."""
        future: Future[T] = Future()
        self._check_open()
        self._ops.put((op, future))
        return future

    def _check_open(self) -> None:
        if not self._thread.is_alive():
            raise RuntimeError("the store writer is closed")

    def call(self, op: Callable[[Store], T], timeout: float | None = 30.0) -> T:
        """Run ``op`` on the writer thread and wait for its result."""
        return self.submit(op).result(timeout)

    def health(self) -> StoreHealth:
        return self._health

    def flush(self, timeout: float) -> StoreHealth:
        """Wait up to ``timeout`` s until the backlog is in the database; return the health."""
        deadline = time.monotonic() + timeout
        self.call(lambda store: None, None)
        while self._health.unwritten and time.monotonic() < deadline:
            time.sleep(0.05)
        return self._health

    def reader(self) -> Store:
        """A read connection for the calling thread (opened on first use)."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = Store(self.path)
            self._local.store = store
            with self._readers_lock:
                self._readers.append(store)
        return store

    def reader_is_known(self, uri: str, size: int, mtime_ns: int) -> bool:
        """``Store.is_known`` on the calling thread's read connection (a source's check)."""
        return self.reader().is_known(uri, size, mtime_ns)

    def pending(self) -> int:
        return self._ops.qsize()

    def close(self, timeout: float | None = 30.0) -> None:
        """Finish queued writes, then stop the thread and close every connection."""
        if self._thread.is_alive():
            self._ops.put(_STOP)
            self._thread.join(timeout)
        with self._readers_lock:
            for store in self._readers:
                store.close()
            self._readers.clear()


def _outcome(where: Literal["db", "spool", "memory"], frame_id: int | None,
             entry: rows.Entry) -> WriteOutcome:
    frame = entry.get("frame") or {}
    return WriteOutcome(where, frame_id, frame.get("status"), frame.get("reason"))
