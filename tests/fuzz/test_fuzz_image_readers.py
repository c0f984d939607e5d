"""Fuzzed image files for each reader: TIFF, OME-TIFF, PNG, JPEG (``read_image``) and the
folder layouts (Micro-Manager single TIFF + ``metadata.txt``, NDTiff with its index) through
``FolderSource``. Each file is a frame (pixels unchanged when the file is intact) or a
failure with a reason (``UnreadableFrame``); never another exception or a hang."""

from __future__ import annotations

import gc
import io
import tempfile
import threading
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from hypothesis import given
from hypothesis import strategies as st

from edge_app.core.frames import Frame, FrameFailure
from edge_app.simulation.writers import FrameRecord, WriterOptions, create_writer
from edge_app.sources import FolderSource, UnreadableFrame, read_image
from tests.fuzz.profiles import TIMEOUT_S, heavy

_DTYPES = st.sampled_from([np.uint8, np.uint16, np.float32])

pytestmark = pytest.mark.timeout(TIMEOUT_S)


@st.composite
def images(draw, dtypes=_DTYPES) -> np.ndarray:
    dtype = draw(dtypes)
    height, width = draw(st.integers(16, 48)), draw(st.integers(16, 48))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 4095
    return (rng.random((height, width)) * top).astype(dtype)


def _encode(kind: str, image: np.ndarray) -> bytes:
    if kind in ("tiff", "ome-tiff"):
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, image, ome=kind == "ome-tiff")
        return buffer.getvalue()
    ok, data = cv2.imencode(".png" if kind == "png" else ".jpg", image)
    assert ok
    return data.tobytes()


_SUFFIX = {"tiff": ".tif", "ome-tiff": ".ome.tif", "png": ".png", "jpeg": ".jpg"}


@st.composite
def mutations(draw, data: bytes) -> bytes:
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "zero-run", "header"]))
    at = draw(st.integers(0, max(0, len(data) - 1)))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        n = draw(st.integers(1, 8))
        out = bytearray(data)
        for offset in draw(st.lists(st.integers(0, len(data) - 1), min_size=n, max_size=n)):
            out[offset] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "zero-run":
        return data[:at] + b"\x00" * draw(st.integers(1, 64)) + data[at + 64:]
    head = min(len(data), 64)  # the headers: sizes, offsets, counts
    out = bytearray(data)
    out[draw(st.integers(0, head - 1))] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF]))
    return bytes(out)


def _read(kind: str, data: bytes):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"frame{_SUFFIX[kind]}"
        path.write_bytes(data)
        try:
            record = read_image(path)
        except UnreadableFrame as error:
            assert str(error).strip() and "\n" not in str(error).strip()
            return None
    Frame(record.pixels, _meta())  # what the source does next: one 2-D plane
    return record


def _meta():
    from edge_app.core.frames import FrameMeta

    return FrameMeta(uri="fuzz://frame")


@pytest.mark.parametrize("kind", ["tiff", "ome-tiff", "png", "jpeg"])
@given(image=images(), data=st.data())
def test_fuzz_intact_image_is_read_unchanged(kind, image, data):
    if kind in ("png", "jpeg") and image.dtype == np.float32:
        image = image.astype(np.uint8)
    if kind == "jpeg":
        image = image.astype(np.uint8)
    record = _read(kind, _encode(kind, image))
    assert record is not None
    if kind == "jpeg":  # lossy: same shape, close values
        assert record.pixels.shape == image.shape
        assert np.abs(record.pixels.astype(float) - image.astype(float)).mean() < 40
    else:
        np.testing.assert_array_equal(record.pixels, image)


@pytest.mark.parametrize("kind", ["tiff", "ome-tiff", "png", "jpeg"])
@given(image=images(st.just(np.uint8)), data=st.data())
def test_fuzz_damaged_image_is_a_frame_or_a_reason(kind, image, data):
    damaged = data.draw(mutations(_encode(kind, image)), label="damaged")
    _read(kind, damaged)


# --- folder layouts: Micro-Manager single TIFF + metadata.txt, NDTiff ------------------------

def _acquire(fmt: str, root: Path, n: int) -> None:
    options = WriterOptions("fuzz", datetime(2026, 12, 2, 9, tzinfo=UTC), chunks=1)
    writer = create_writer(fmt, root / fmt, options)
    try:
        for i in range(n):
            image = (np.random.default_rng(i).random((32, 32)) * 4000).astype(np.uint16)
            writer.write(FrameRecord(image, "P1", f"A{i + 1}", 0, 24.0, 0, i, i * 100.0, 2.0))
    finally:
        writer.close()


def _scan(root: Path) -> list[Frame | FrameFailure]:
    items: list[Frame | FrameFailure] = []
    lock = threading.Lock()

    def sink(item):
        with lock:
            items.append(item)

    source = FolderSource(root, once=True, settle_s=0.0, give_up_s=0.0)
    source.open(sink)
    try:
        assert source.wait(60), "the folder scan did not finish"
    finally:
        source.close(10)
    return items


def _damage(data, path: Path) -> None:
    raw = path.read_bytes()
    path.write_bytes(data.draw(mutations(raw), label=f"damaged {path.name}") if raw else raw)


# A damaged NDTiff stack leaks an open file (the ResourceWarning of the named test below);
# the fuzzer keeps checking everything else meanwhile.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("fmt", ["mm-single", "ndtiff"])
@heavy(8)
@given(data=st.data())
def test_fuzz_acquisition_layouts_give_every_file_a_frame_or_a_reason(fmt, data):
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        n = 3
        _acquire(fmt, root, n)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        targets = data.draw(st.lists(st.sampled_from(files), min_size=1, max_size=2,
                                     unique=True), label="damaged files")
        for path in targets:
            _damage(data, path)
        items = _scan(root)
    for item in items:
        if isinstance(item, FrameFailure):
            assert item.reason.strip() and "Traceback" not in item.reason
        else:
            assert item.pixels.ndim == 2
    assert len(items) <= n + 2 * len(files)


@pytest.mark.parametrize("fmt", ["mm-single", "ndtiff"])
def test_intact_acquisition_layouts_give_every_frame_once(tmp_path, fmt):
    _acquire(fmt, tmp_path, 3)
    items = _scan(tmp_path)
    assert [type(i).__name__ for i in items] == ["Frame"] * 3
    assert sorted(i.meta.well for i in items) == ["A1", "A2", "A3"]


def test_damaged_ndtiff_stack_leaves_no_file_open(tmp_path):
    _acquire("ndtiff", tmp_path, 3)
    stack = next(tmp_path.rglob("*NDTiffStack.tif"))
    stack.write_bytes(b"\x00\x00\x00\x00" + stack.read_bytes()[4:])  # "Tiff magic 42 missing"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        items = _scan(tmp_path)
        gc.collect()
    assert [type(i).__name__ for i in items] == ["FrameFailure"] * 3
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]
    assert leaks == []
