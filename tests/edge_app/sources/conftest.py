"""Fixtures for the folder source tests: a collecting sink, slow writers, thread-leak check."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile

from edge_app.core.frames import Frame, FrameFailure


class Collector:
    """A thread-safe sink that remembers everything and can wait for a count."""

    def __init__(self) -> None:
        self.items: list[Frame | FrameFailure] = []
        self.arrived: dict[str, float] = {}
        self._cond = threading.Condition()

    def __call__(self, item: Frame | FrameFailure) -> None:
        with self._cond:
            self.items.append(item)
            uri = item.meta.uri if isinstance(item, Frame) else item.uri
            self.arrived.setdefault(uri, time.monotonic())
            self._cond.notify_all()

    @property
    def frames(self) -> list[Frame]:
        with self._cond:
            return [i for i in self.items if isinstance(i, Frame)]

    @property
    def failures(self) -> list[FrameFailure]:
        with self._cond:
            return [i for i in self.items if isinstance(i, FrameFailure)]

    def wait_for(self, n: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.items) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True


@pytest.fixture
def collector() -> Collector:
    return Collector()


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    """Fail when a test leaves threads behind (observer, emitters, checker)."""
    before = threading.active_count()
    yield
    deadline = time.monotonic() + 5.0
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]


def tiff_bytes(pixels: np.ndarray, tmp: Path, **kwargs: object) -> bytes:
    """The bytes of a TIFF file holding ``pixels`` (written once, to copy slowly later)."""
    path = tmp / f"_template_{os.getpid()}_{time.monotonic_ns()}.bin"
    tifffile.imwrite(path, pixels, **kwargs)
    data = path.read_bytes()
    path.unlink()
    return data


def write_slowly(path: Path, data: bytes, chunks: int = 4, pause_s: float = 0.05) -> None:
    """Write ``data`` to ``path`` in chunks, flushing and pausing between them."""
    step = max(1, -(-len(data) // chunks))
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            os.fsync(handle.fileno())
            time.sleep(pause_s)


def in_thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, name="test-writer")
    thread.start()
    return thread


def real_data_dir() -> Path | None:
    """The shared real images (``SENTINEL_REAL_DATA`` overrides), or None when absent."""
    env = os.environ.get("SENTINEL_REAL_DATA")
    path = (
        Path(env)
        if env
        else Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "real"
    )
    return path if path.is_dir() else None


def finish_ndtiff(dataset: object) -> None:
    """Finish and close an ndstorage ``NDTiffDataset`` writer without leaking file handles.

    ndstorage 0.1.18's ``SingleNDTiffWriter`` opens a reader it never closes; close it here.
    """
    writer = getattr(dataset, "current_writer", None)
    if writer is not None:
        writer.reader.close()
    dataset.finish()  # type: ignore[attr-defined]
    dataset.close()  # type: ignore[attr-defined]


@pytest.fixture
def mm_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Micro-Manager tests (micromanager.md §7): an empty adapter folder, psygnal signals."""
    monkeypatch.setenv("MICROMANAGER_PATH", str(tmp_path_factory.mktemp("mm-adapters")))
    monkeypatch.setenv("PYMM_SIGNALS_BACKEND", "psygnal")
