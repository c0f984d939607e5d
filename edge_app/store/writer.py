"""``StoreWriter``: the one thread that writes to the store, fed through a queue."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from edge_app.store.database import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


class StoreWriter:
    """Runs every write on one thread with its own connection; callers get a ``Future``.

    Reads from other threads use :meth:`reader`, a per-thread read connection (WAL lets
    readers and the writer work at the same time).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        Store(self.path).close()  # create and migrate now, so errors surface at start-up
        self._ops: queue.Queue = queue.Queue()
        self._local = threading.local()
        self._readers: list[Store] = []
        self._readers_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        store = Store(self.path)
        try:
            while True:
                item = self._ops.get()
                if item is _STOP:
                    break
                op, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    future.set_result(op(store))
                except BaseException as exc:  # handed to the caller through the future
                    log.exception("store write failed")
                    future.set_exception(exc)
        finally:
            store.close()

    def submit(self, op: Callable[[Store], T]) -> Future[T]:
        """Queue ``op(store)`` to run on the writer thread."""
        future: Future[T] = Future()
        if not self._thread.is_alive():
            raise RuntimeError("the store writer is closed")
        self._ops.put((op, future))
        return future

    def call(self, op: Callable[[Store], T], timeout: float | None = 30.0) -> T:
        """Run ``op`` on the writer thread and wait for its result."""
        return self.submit(op).result(timeout)

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
