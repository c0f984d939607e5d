"""At least 50 generated bad files: each recorded once with a reason, good files still arrive,
no hang, bounded memory."""

from __future__ import annotations

import gc
import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import tifffile

from edge_app.sources.folder.source import FolderSource
from tests.edge_app.sources.conftest import Collector, real_data_dir

WATCHDOG_RACE = "ignore:Callback with id .* already exists for watch:RuntimeWarning"
pytestmark = [
    pytest.mark.usefixtures("no_leaked_threads"),
    pytest.mark.filterwarnings(WATCHDOG_RACE),
]


def _tiff(pixels: np.ndarray, **kwargs: object) -> bytes:
    import io

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, pixels, **kwargs)
    return buffer.getvalue()


def _huge_tiff(width: int, height: int) -> bytes:
    tags = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 200),
        (277, 3, 1, 1),
        (278, 4, 1, height),
        (279, 4, 1, (width * height * 2) % 2**32),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 68


def _png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def _jpg(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", pixels)[1].tobytes()


def _huge_png() -> bytes:
    good = _png(np.zeros((20, 20), np.uint8))
    return good[:16] + struct.pack(">II", 100000, 100000) + good[24:]


def bad_files() -> dict[str, bytes | Callable[[Path], None]]:
    """Name -> content (or a function that creates the path) of every bad file."""
    rng = np.random.default_rng(0)
    good = _tiff(rng.integers(0, 4000, (128, 128), dtype=np.uint16))
    nan = np.ones((64, 64), np.float32)
    nan[5, 5] = np.nan
    files: dict[str, bytes | Callable[[Path], None]] = {
        "zero.tif": b"",
        "zero.tiff": b"",
        "zero.png": b"",
        "zero.jpg": b"",
        "header_only.tif": good[:8],
        "bigtiff_header.tif": b"II+\x00\x08\x00\x00\x00",
        "one_by_one.tif": _tiff(np.zeros((1, 1), np.uint16)),
        "one_by_one.png": _png(np.zeros((1, 1), np.uint8)),
        "two_by_two.jpg": _jpg(np.zeros((2, 2), np.uint8)),
        "thin.tif": _tiff(np.zeros((1, 4000), np.uint8)),
        "huge.tif": _huge_tiff(100000, 100000),
        "huge_wide.tif": _huge_tiff(2**31, 2),
        "huge.png": _huge_png(),
        "nan.tif": _tiff(nan),
        "inf.tif": _tiff(np.full((32, 32), np.inf)),
        "all_nan.tif": _tiff(np.full((32, 32), np.nan, np.float32)),
        "complex.tif": _tiff(np.ones((32, 32), np.complex64)),
        "stack.tif": _tiff(np.zeros((5, 64, 64), np.uint16)),
        "stack_imagej.tif": _tiff(np.zeros((3, 2, 32, 32), np.uint8), imagej=True),
        "two_pages.tif": _tiff(np.zeros((2, 32, 32), np.uint8)),
        "multichannel.tif": _tiff(
            np.zeros((32, 32, 2), np.uint8), photometric="minisblack", planarconfig="contig"
        ),
        "planar5.tif": _tiff(
            np.zeros((5, 32, 32), np.uint8), photometric="minisblack", planarconfig="separate"
        ),
        "text.tif": b"hello, I am a text file\n",
        "text.tiff": b"{}\n" * 10,
        "text.png": b"not a png\n" * 5,
        "text.jpg": b"not a jpeg\n" * 5,
        "truncated_png.png": _png(np.zeros((64, 64), np.uint8))[:60],
        "truncated_jpg.jpg": _jpg(rng.integers(0, 255, (64, 64), dtype=np.uint8))[:200],
        "rgba_truncated.tif": _tiff(np.zeros((64, 64, 4), np.uint8), photometric="rgb")[:300],
        "symlink_loop.tif": lambda p: p.symlink_to(p),
        "symlink_loop_b.tif": lambda p: p.symlink_to(p.with_name("symlink_loop_c.tif")),
        "symlink_loop_c.tif": lambda p: p.symlink_to(p.with_name("symlink_loop_b.tif")),
        "dangling.tif": lambda p: p.symlink_to(p.with_name("does_not_exist.tif")),
        "fifo.tif": lambda p: os.mkfifo(p),
    }
    for i, cut in enumerate((9, 40, 100, 200, len(good) // 3, len(good) // 2, len(good) - 50)):
        files[f"truncated_{i}.tif"] = good[:cut]
    for i in range(8):
        files[f"random_after_header_{i}.tif"] = good[:8] + rng.bytes(256 * (i + 1))
    for i in range(3):
        files[f"random_{i}.png"] = rng.bytes(500)
        files[f"random_{i}.jpg"] = b"\xff\xd8" + rng.bytes(500)
    return files


def _good_files(folder: Path) -> set[str]:
    names = set()
    for i in range(4):
        tifffile.imwrite(folder / f"good_{i}.tif", np.full((64, 64), i + 1, np.uint16))
        names.add(f"good_{i}.tif")
    tifffile.imwrite(folder / "good_rgba.tif", np.full((64, 64, 4), 9, np.uint8), photometric="rgb")
    names.add("good_rgba.tif")
    real = real_data_dir()
    if real is not None:
        for path in sorted((real / "cparent3_spheroid_crops" / "images").glob("*.png"))[:2]:
            shutil.copy(path, folder / f"real_{path.name}")
            names.add(f"real_{path.name}")
    return names


def _populate(folder: Path) -> tuple[set[str], set[str]]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in bad_files().items():
        if callable(content):
            content(folder / name)
        else:
            (folder / name).write_bytes(content)
    return set(bad_files()), _good_files(folder)


def _check(collector: Collector, bad: set[str], good: set[str]) -> None:
    failures = {Path(f.uri).name: f.reason for f in collector.failures}
    assert set(failures) == bad, (bad - set(failures), set(failures) - bad)
    assert len(collector.failures) == len(bad), "each bad file is recorded exactly once"
    assert all(len(reason) > 8 for reason in failures.values()), failures
    assert "limit" in failures["huge.tif"] and "limit" in failures["huge.png"]
    assert "NaN" in failures["nan.tif"] and "stack" in failures["stack.tif"]
    assert "symlink loop" in failures["symlink_loop.tif"]
    assert "regular file" in failures["fifo.tif"] and "0 bytes" in failures["zero.tif"]
    assert {Path(f.meta.uri).name for f in collector.frames} == good
    assert len(collector.frames) == len(good)


def test_at_least_fifty_bad_files() -> None:
    assert len(bad_files()) >= 50


def test_bad_files_in_one_pass(tmp_path: Path, collector: Collector) -> None:
    bad, good = _populate(tmp_path / "plate")
    source = FolderSource(tmp_path, once=True, settle_s=0.1, give_up_s=0.5)
    source.open(collector)
    try:
        assert source.wait(30), "once mode must finish"
    finally:
        source.close(timeout=5)
    _check(collector, bad, good)
    counts = source.counts()
    assert (counts.failed, counts.emitted) == (len(bad), len(good))


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_bad_files_while_watching_with_bounded_memory(
    tmp_path: Path, polling: bool, collector: Collector
) -> None:
    process = psutil.Process()
    source = FolderSource(tmp_path, settle_s=0.2, rescan_s=1.0, give_up_s=0.6, polling=polling)
    source.open(collector)
    try:
        bad, good = _populate(tmp_path / "round0")
        assert collector.wait_for(len(bad) + len(good), timeout=30)
        gc.collect()
        rss_before = process.memory_info().rss
        for round_ in (1, 2):
            names = _populate(tmp_path / f"round{round_}")
            bad, good = bad | names[0], good | names[1]
        total = 3 * (len(bad_files()) + len(names[1]))
        assert collector.wait_for(total, timeout=60), len(collector.items)
        gc.collect()
        growth_mb = (process.memory_info().rss - rss_before) / 2**20
    finally:
        source.close(timeout=5)
    assert len(collector.failures) == 3 * len(bad_files())
    assert len(collector.frames) == 3 * len(names[1])
    assert growth_mb < 64, f"RSS grew by {growth_mb:.0f} MiB over two rounds of bad files"
