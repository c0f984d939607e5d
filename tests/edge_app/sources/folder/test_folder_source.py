"""FolderSource end to end with real watchdog observers, real files and real writers."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import tifffile
from ndstorage import NDTiffDataset

from edge_app.core.frames import FrameFailure
from edge_app.sources.base import FrameSource
from edge_app.sources.folder.source import FolderSource
from tests.edge_app.sources.conftest import (
    Collector,
    finish_ndtiff,
    in_thread,
    tiff_bytes,
    write_slowly,
)

# watchdog 7.1's inotify thread warns when a fresh nested folder's watch is added twice (a
# race it resolves itself); under ``filterwarnings = error`` that warning would kill the thread.
WATCHDOG_RACE = "ignore:Callback with id .* already exists for watch:RuntimeWarning"
pytestmark = [
    pytest.mark.usefixtures("no_leaked_threads"),
    pytest.mark.filterwarnings(WATCHDOG_RACE),
]
OBSERVERS = [pytest.param(False, id="inotify"), pytest.param(True, id="polling")]


def _image(seed: int, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, shape, dtype=np.uint16)


def _source(root: Path, polling: bool = False, **kwargs: object) -> FolderSource:
    options: dict = {"settle_s": 0.2, "rescan_s": 1.0, "polling": polling}
    options.update(kwargs)
    return FolderSource(root, **options)


def test_folder_source_satisfies_the_protocol(tmp_path: Path) -> None:
    assert isinstance(FolderSource(tmp_path), FrameSource)


def test_unknown_name_pattern_lists_presets(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="slimia"):
        FolderSource(tmp_path, name_pattern="(?P<nothing>x)")


@pytest.mark.parametrize("polling", OBSERVERS)
def test_chunked_tiffs_arrive_once_with_names(
    tmp_path: Path, polling: bool, collector: Collector
) -> None:
    images = {f"P7_B{i + 1}_s{i % 2}_t{12 * i}h.tif": _image(i) for i in range(6)}
    payloads = {name: tiff_bytes(px, tmp_path) for name, px in images.items()}
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling, name_pattern="plate-well-site-time")
    source.open(collector)
    try:
        writer = in_thread(lambda: [write_slowly(root / n, d) for n, d in payloads.items()])
        writer.join()
        assert collector.wait_for(6), collector.items
        time.sleep(0.6)  # late duplicates would show up here
    finally:
        source.close(timeout=5)
    assert not collector.failures
    by_name = {Path(f.meta.uri).name: f for f in collector.frames}
    assert sorted(by_name) == sorted(images) and len(collector.items) == 6
    for name, frame in by_name.items():
        np.testing.assert_array_equal(frame.pixels, images[name])
        i = list(images).index(name)
        assert (frame.meta.plate_id, frame.meta.well, frame.meta.site) == ("P7", f"B{i + 1}", i % 2)
        assert frame.meta.hours == 12.0 * i and frame.meta.acquired_at.tzinfo is UTC
        assert Path(frame.meta.uri).is_absolute()
    assert source.counts().emitted == 6 and source.counts().seen == 6


@pytest.mark.parametrize("polling", OBSERVERS)
def test_temp_file_then_rename(tmp_path: Path, polling: bool, collector: Collector) -> None:
    data = tiff_bytes(_image(1), tmp_path)
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling)
    source.open(collector)
    try:
        for i in range(3):
            write_slowly(root / f".img{i}.tif.part", data)
            os.replace(root / f".img{i}.tif.part", root / f"img{i}.tif")
        assert collector.wait_for(3)
        time.sleep(0.5)
    finally:
        source.close(timeout=5)
    assert sorted(Path(f.meta.uri).name for f in collector.frames) == [
        "img0.tif",
        "img1.tif",
        "img2.tif",
    ]
    assert len(collector.items) == 3


def _mm_position(acq: Path, label: str, n_times: int, start: str) -> None:
    """One MM position folder written as MM does: folder first, then images + metadata.txt."""
    folder = acq / label
    folder.mkdir()
    entries = [f'"Summary": {json.dumps({"StartTime": start})}']
    for t in range(n_times):
        name = f"img_channel000_position000_time{t:09d}_z000.tif"
        info = {"PositionName": label, "ElapsedTime-ms": 60000.0 * t, "FrameIndex": t}
        entries.append(f'"Coords-Default/{name}": {json.dumps({"time": t})}')
        (folder / "metadata.txt").write_text("{\n" + ",\n".join(entries) + ",\n")
        data = tiff_bytes(_image(t), acq.parent, imagej=True, metadata={"Info": json.dumps(info)})
        write_slowly(folder / name, data, chunks=3, pause_s=0.01)


@pytest.mark.parametrize("polling", OBSERVERS)
def test_files_in_fresh_position_folders(
    tmp_path: Path, polling: bool, collector: Collector
) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling)
    source.open(collector)
    try:
        acq = root / "plate42_1"
        acq.mkdir()
        labels = [f"{row}{col}-Site_0" for row in "AB" for col in range(1, 6)]
        for label in labels:
            _mm_position(acq, label, 2, "2024-01-02 10:00:00.000 +0100")
        assert collector.wait_for(20, timeout=30), len(collector.items)
        time.sleep(0.5)
    finally:
        source.close(timeout=5)
    assert not collector.failures and len(collector.frames) == 20
    wells = sorted((f.meta.well, f.meta.timepoint_index) for f in collector.frames)
    assert wells == sorted((label.split("-")[0], t) for label in labels for t in range(2))
    frame = next(f for f in collector.frames if f.meta.timepoint_index == 1)
    assert frame.meta.plate_id == "plate42_1" and frame.meta.elapsed_s == 60.0
    assert frame.meta.acquired_at == datetime(2024, 1, 2, 9, 1, tzinfo=UTC)


def test_once_mode_reconciles_with_the_store(tmp_path: Path, collector: Collector) -> None:
    for i in range(5):
        tifffile.imwrite(tmp_path / f"f{i}.tif", _image(i))
    known = {str((tmp_path / f"f{i}.tif").resolve()) for i in (0, 2)}
    calls: list[tuple[str, int, int]] = []

    def is_known(uri: str, size: int, mtime_ns: int) -> bool:
        calls.append((uri, size, mtime_ns))
        return uri in known

    source = FolderSource(tmp_path, once=True, settle_s=0.1, is_known=is_known)
    source.open(collector)
    assert source.wait(10)
    source.close(timeout=5)
    assert sorted(Path(f.meta.uri).name for f in collector.frames) == ["f1.tif", "f3.tif", "f4.tif"]
    counts = source.counts()
    assert (counts.seen, counts.emitted, counts.skipped_known, counts.failed) == (5, 3, 2, 0)
    sizes = {uri: size for uri, size, _ in calls}
    assert all(sizes[str(p)] == p.stat().st_size for p in tmp_path.glob("*.tif"))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def test_settle_time_follows_the_injected_clock(tmp_path: Path, collector: Collector) -> None:
    tifffile.imwrite(tmp_path / "a.tif", _image(3))
    clock = FakeClock()
    source = FolderSource(tmp_path, once=True, settle_s=30.0, clock=clock)
    source.open(collector)
    try:
        assert not source.wait(1.5) and not collector.items
        clock.advance(31.0)
        assert source.wait(5) and len(collector.frames) == 1
    finally:
        source.close(timeout=5)


def _ndtiff_writer(root: Path, n: int, flush: bool, started: threading.Event) -> NDTiffDataset:
    dataset = NDTiffDataset(str(root), name="acq", writable=True)
    dataset.initialize({"StartTime": "2024-01-02 10:00:00.000 +0100"})
    for t in range(n):
        md = {"PositionName": "D4-Site_1", "ElapsedTime-ms": 1000.0 * t}
        dataset.put_image({"time": t, "position": 0}, _image(t, (48, 40)), md)
        if flush:  # like the Java writer: pixels and metadata on disk, then the index entry
            dataset.current_writer.file.flush()
            dataset._index_file.flush()
        started.set()
        time.sleep(0.05)
    return dataset


@pytest.mark.parametrize("polling", OBSERVERS)
@pytest.mark.parametrize("flush", [True, False], ids=["flush-per-entry", "python-writer"])
def test_ndtiff_dataset_followed_live(
    tmp_path: Path, polling: bool, flush: bool, collector: Collector
) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling)
    source.open(collector)
    started = threading.Event()
    dataset = _ndtiff_writer(root, 6, flush, started)
    try:
        if flush:
            assert collector.wait_for(3, timeout=10), "entries should arrive before finish"
        finish_ndtiff(dataset)
        assert collector.wait_for(6, timeout=15), collector.items
        time.sleep(0.5)
    finally:
        finish_ndtiff(dataset)
        source.close(timeout=5)
    assert not collector.failures, collector.failures
    frames = sorted(collector.frames, key=lambda f: f.meta.timepoint_index)
    assert [f.meta.timepoint_index for f in frames] == list(range(6))
    assert frames[2].meta.uri == f'{dataset.path}#{{"position": 0, "time": 2}}'
    assert (frames[2].meta.well, frames[2].meta.site, frames[2].meta.elapsed_s) == ("D4", 1, 2.0)
    np.testing.assert_array_equal(frames[5].pixels, _image(5, (48, 40)))


def test_ndtiff_entries_are_reconciled_with_minus_one(tmp_path: Path, collector: Collector) -> None:
    dataset = _ndtiff_writer(tmp_path, 3, True, threading.Event())
    finish_ndtiff(dataset)
    seen: list[tuple[int, int]] = []

    def is_known(uri: str, size: int, mtime_ns: int) -> bool:
        seen.append((size, mtime_ns))
        return uri.endswith('"time": 0}')

    source = FolderSource(tmp_path, once=True, settle_s=0.1, is_known=is_known)
    source.open(collector)
    assert source.wait(10)
    source.close(timeout=5)
    assert seen == [(-1, -1)] * 3 and len(collector.frames) == 2
    assert source.counts().skipped_known == 1


def test_symlink_loop_fifo_and_folder_named_tif(tmp_path: Path, collector: Collector) -> None:
    tifffile.imwrite(tmp_path / "good.tif", _image(1))
    (tmp_path / "loop.tif").symlink_to(tmp_path / "loop.tif")
    (tmp_path / "dirlink").symlink_to(tmp_path)  # a directory loop: never followed
    os.mkfifo(tmp_path / "pipe.tif")
    (tmp_path / "folder.tif").mkdir()
    source = FolderSource(tmp_path, once=True, settle_s=0.1)
    source.open(collector)
    assert source.wait(10)
    source.close(timeout=5)
    reasons = {Path(f.uri).name: f.reason for f in collector.failures}
    assert set(reasons) == {"loop.tif", "pipe.tif"}
    assert "symlink loop" in reasons["loop.tif"] and "regular" in reasons["pipe.tif"]
    assert [Path(f.meta.uri).name for f in collector.frames] == ["good.tif"]


def test_blocking_sink_is_backpressure(tmp_path: Path) -> None:
    for i in range(3):
        tifffile.imwrite(tmp_path / f"{i}.tif", _image(i))
    gate = threading.Event()
    got: list[object] = []

    def slow_sink(item: object) -> None:
        gate.wait(5)
        got.append(item)

    source = FolderSource(tmp_path, once=True, settle_s=0.05)
    source.open(slow_sink)
    assert not source.wait(0.5) and not got
    gate.set()
    assert source.wait(10) and len(got) == 3
    source.close(timeout=5)
    assert not any(isinstance(item, FrameFailure) for item in got)


@pytest.mark.parametrize("polling", OBSERVERS)
def test_latency_of_a_chunked_2048_tiff(
    tmp_path: Path, polling: bool, collector: Collector
) -> None:
    data = tiff_bytes(_image(9, (2048, 2048)), tmp_path)
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling)
    source.open(collector)
    try:
        time.sleep(0.3)
        write_slowly(root / "big.tif", data, chunks=8, pause_s=0.05)
        last_byte = time.monotonic()
        assert collector.wait_for(1, timeout=10)
    finally:
        source.close(timeout=5)
    latency = collector.arrived[str(root.resolve() / "big.tif")] - last_byte
    assert latency < (2.0 if polling else 1.0), latency
    mode = "polling" if polling else "inotify"
    print(f"\nlatency {mode}: {latency * 1000:.0f} ms from last byte to delivery")


@pytest.mark.parametrize("polling", OBSERVERS)
def test_writer_stalling_longer_than_settle_time(
    tmp_path: Path, polling: bool, collector: Collector
) -> None:
    """A half-written file that is stable past ``settle_s`` is retried, not failed."""
    data = tiff_bytes(_image(4, (256, 256)), tmp_path)
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, polling, give_up_s=3.0)
    source.open(collector)
    try:
        with (root / "stall.tif").open("wb") as handle:
            handle.write(data[: len(data) // 2])
            handle.flush()
            time.sleep(0.8)  # settle_s is 0.2: the reader sees a stable, truncated file
            handle.write(data[len(data) // 2 :])
        assert collector.wait_for(1, timeout=10)
        time.sleep(0.3)
    finally:
        source.close(timeout=5)
    assert not collector.failures and len(collector.frames) == 1
    np.testing.assert_array_equal(collector.frames[0].pixels, _image(4, (256, 256)))


def test_file_completed_after_give_up_is_read_again(tmp_path: Path, collector: Collector) -> None:
    data = tiff_bytes(_image(6, (128, 128)), tmp_path)
    root = tmp_path / "watch"
    root.mkdir()
    source = _source(root, give_up_s=0.5)
    source.open(collector)
    try:
        (root / "late.tif").write_bytes(data[: len(data) // 2])
        assert collector.wait_for(1, timeout=10)
        assert "truncated" in collector.failures[0].reason
        with (root / "late.tif").open("ab") as handle:
            handle.write(data[len(data) // 2 :])
        assert collector.wait_for(2, timeout=10)
    finally:
        source.close(timeout=5)
    assert len(collector.frames) == 1 and source.counts().failed == 1
