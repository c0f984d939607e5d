"""Readers: good files decode to one plane; bad ones raise with a reason, before allocating."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from edge_app.sources.readers import IncompleteFile, UnreadableFrame, read_image
from tests.edge_app.sources.conftest import real_data_dir


def _ramp(shape: tuple[int, int] = (64, 80), dtype: type = np.uint16) -> np.ndarray:
    return (np.arange(shape[0] * shape[1]) % 4000).reshape(shape).astype(dtype)


def test_tiff_uint16_round_trip(tmp_path: Path) -> None:
    pixels = _ramp()
    tifffile.imwrite(tmp_path / "a.tif", pixels)
    record = read_image(tmp_path / "a.tif")
    assert record.format == "tiff"
    np.testing.assert_array_equal(record.pixels, pixels)


def test_ome_tiff(tmp_path: Path) -> None:
    pixels = _ramp(dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.ome.tif", pixels, ome=True, metadata={"PhysicalSizeX": 0.65})
    record = read_image(tmp_path / "a.ome.tif")
    assert record.format == "ome-tiff" and "PhysicalSizeX" in record.metadata["ome_xml"]
    np.testing.assert_array_equal(record.pixels, pixels)


def test_imagej_info_metadata_is_parsed(tmp_path: Path) -> None:
    info = json.dumps({"PositionName": "C3-Site_1", "ElapsedTime-ms": 1500.0})
    tifffile.imwrite(tmp_path / "a.tif", _ramp(), imagej=True, metadata={"Info": info})
    assert read_image(tmp_path / "a.tif").metadata["PositionName"] == "C3-Site_1"


def test_rgb_tiff_becomes_gray(tmp_path: Path) -> None:
    rgb = np.zeros((32, 40, 3), np.uint8)
    rgb[..., 1] = 200
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    pixels = read_image(tmp_path / "rgb.tif").pixels
    assert pixels.shape == (32, 40) and int(pixels[0, 0]) == int(0.587 * 200)


def test_png_16bit_and_jpeg_rgb(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _ramp())
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").pixels, _ramp())
    bgr = np.zeros((48, 48, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "a.jpg"), bgr)
    gray = read_image(tmp_path / "a.jpg").pixels
    assert gray.shape == (48, 48) and abs(int(gray.mean()) - 76) <= 3


def test_real_png_images_read() -> None:
    root = real_data_dir()
    if root is None:
        pytest.skip("shared real images folder is absent (set SENTINEL_REAL_DATA)")
    paths = sorted((root / "goat_organoids" / "images").glob("*.png"))[:2]
    paths += sorted((root / "cparent3_spheroid_crops" / "images").glob("*.png"))[:3]
    assert paths
    for path in paths:
        pixels = read_image(path).pixels
        assert pixels.ndim == 2 and pixels.std() > 0


def test_truncated_tiff_is_incomplete(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "full.tif", _ramp((256, 256)))
    data = (tmp_path / "full.tif").read_bytes()
    for cut in (4, 8, 100, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.tif").write_bytes(data[:cut])
        with pytest.raises(IncompleteFile):
            read_image(tmp_path / "cut.tif")


def test_empty_file_is_incomplete(tmp_path: Path) -> None:
    (tmp_path / "e.tif").write_bytes(b"")
    with pytest.raises(IncompleteFile, match="0 bytes"):
        read_image(tmp_path / "e.tif")


def test_absurd_size_is_refused_before_allocation(tmp_path: Path) -> None:
    header = b"II*\x00" + struct.pack("<I", 8)
    tags = [
        (256, 4, 1, 100000),
        (257, 4, 1, 100000),
        (258, 3, 1, 16),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, 200),
        (277, 3, 1, 1),
        (278, 4, 1, 100000),
        (279, 4, 1, 20000000000 % 2**32),
    ]
    ifd = struct.pack("<H", len(tags))
    ifd += b"".join(struct.pack("<HHII", *tag) for tag in tags) + struct.pack("<I", 0)
    (tmp_path / "huge.tif").write_bytes(header + ifd + b"\x00" * 64)
    start = time.perf_counter()
    with pytest.raises(UnreadableFrame, match="more than the limit"):
        read_image(tmp_path / "huge.tif")
    assert time.perf_counter() - start < 1.0


def test_stack_multichannel_nan_tiny_and_text(tmp_path: Path) -> None:
    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((5, 32, 32), np.uint8))
    tifffile.imwrite(
        tmp_path / "mc.tif",
        np.zeros((32, 32, 2), np.uint8),
        planarconfig="contig",
        photometric="minisblack",
    )
    nan = np.ones((32, 32), np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", nan)
    tifffile.imwrite(tmp_path / "one.tif", np.zeros((1, 1), np.uint16))
    (tmp_path / "text.tif").write_text("this is not an image\n")
    expected = {
        "stack.tif": "3-D stack",
        "mc.tif": "multi-channel|3-D",
        "nan.tif": "NaN",
        "one.tif": "too small",
        "text.tif": "not a TIFF",
    }
    for name, reason in expected.items():
        with pytest.raises(UnreadableFrame, match=reason) as info:
            read_image(tmp_path / name)
        assert not isinstance(info.value, IncompleteFile), name


def test_float_image_without_nan_reads(tmp_path: Path) -> None:
    tifffile.imwrite(
        tmp_path / "f.tif", np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    )
    assert read_image(tmp_path / "f.tif").pixels.dtype == np.float32


def test_truncated_png_and_jpeg_are_incomplete(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), _ramp(dtype=np.uint8))
    cv2.imwrite(str(tmp_path / "a.jpg"), _ramp(dtype=np.uint8))
    for name in ("a.png", "a.jpg"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / f"cut_{name}").write_bytes(data[: len(data) // 2])
        with pytest.raises(IncompleteFile):
            read_image(tmp_path / f"cut_{name}")
