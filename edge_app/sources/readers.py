"""Read one image file into a 2-D plane plus its raw metadata, or say why not.

Everything bad raises :class:`UnreadableFrame`; :class:`IncompleteFile` (a subclass) means
"maybe still being written, try again later". Sizes are checked before pixels are allocated.
"""

from __future__ import annotations

import json
import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tifffile

from edge_app.core.frames import to_grayscale

log = logging.getLogger(__name__)
# tifffile logs a warning for every truncated or odd file; we report those as reasons instead.
logging.getLogger("tifffile").setLevel(logging.ERROR)

MAX_PIXELS = 2**28
MIN_SIDE = 16
TIFF_SUFFIXES = (".tif", ".tiff")
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg")


class UnreadableFrame(Exception):
    """A file that cannot become a frame; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IncompleteFile(UnreadableFrame):
    """The file looks partly written (truncated, header only): retry once it has settled."""


class FileAccessError(UnreadableFrame):
    """The file could not be opened or read (permission, gone, I/O); ``vanished`` when gone.

    May recover (a Windows sharing lock while Micro-Manager writes, a network hiccup), so a
    live source retries it for a while before recording it as failed.
    """

    def __init__(self, reason: str, *, vanished: bool = False) -> None:
        super().__init__(reason)
        self.vanished = vanished

    @classmethod
    def of(cls, exc: OSError) -> FileAccessError:
        """The one-line reason of an ``OSError`` raised while opening or reading a file."""
        detail = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            return cls("file vanished before it could be read (deleted or renamed)",
                       vanished=True)
        if isinstance(exc, PermissionError):
            return cls(f"cannot open file: permission denied ({detail})")
        return cls(f"cannot read file: {type(exc).__name__}: {detail}")


@dataclass(frozen=True)
class ImageRecord:
    """One decoded plane and the raw metadata found in the file."""

    pixels: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    format: str = ""


def read_image(path: Path) -> ImageRecord:
    """Read a TIFF / OME-TIFF / PNG / JPEG file by its suffix.

    Raises:
        UnreadableFrame: bad for good; ``IncompleteFile`` when it may still be written;
            ``FileAccessError`` when it cannot be opened or read (permission, gone, I/O).
    """
    suffix = path.suffix.lower()
    if suffix not in TIFF_SUFFIXES + RASTER_SUFFIXES:
        raise UnreadableFrame(f"unsupported file type {suffix!r}")
    try:
        size = path.stat().st_size
        if size == 0:
            raise IncompleteFile("empty file (0 bytes)")
        if suffix in TIFF_SUFFIXES:
            return read_tiff(path, size)
        return read_raster(path, size)
    except OSError as exc:  # opening or reading outside the decoders' own checks
        raise FileAccessError.of(exc) from exc


def read_tiff(path: Path, size: int) -> ImageRecord:
    """TIFF and OME-TIFF through tifffile, with the completeness checks of a live writer."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic[:2] not in (b"II", b"MM"):
        raise UnreadableFrame(f"not a TIFF file (starts with {magic[:4]!r})")
    try:
        with tifffile.TiffFile(path) as tif:
            return _read_open_tiff(tif, size)
    except UnreadableFrame:
        raise
    except MemoryError as exc:
        raise UnreadableFrame("TIFF too large to decode") from exc
    except (tifffile.TiffFileError, ValueError, struct.error, OSError, EOFError) as exc:
        raise IncompleteFile(f"TIFF does not parse (truncated?): {_short(exc)}") from exc
    except Exception as exc:
        raise UnreadableFrame(f"TIFF decoder failed: {type(exc).__name__}: {_short(exc)}") from exc


def _read_open_tiff(tif: tifffile.TiffFile, size: int) -> ImageRecord:
    if len(tif.pages) == 0 or not tif.series:
        raise IncompleteFile("TIFF has no image pages (header only)")
    series = tif.series[0]
    if not series.pages or series.pages[0] is None:
        raise IncompleteFile("TIFF series has no pages yet")
    page = series.keyframe
    _check_shape(tuple(series.shape), _is_rgb(page), int(page.samplesperpixel))
    for one in series.pages:
        if one is None:
            raise IncompleteFile("TIFF page missing (truncated)")
        for offset, count in zip(one.dataoffsets, one.databytecounts, strict=False):
            if offset + count > size:
                raise IncompleteFile("pixel data ends beyond end of file (truncated)")
    pixels = series.asarray()
    kind = "ome-tiff" if tif.is_ome else "tiff"
    return ImageRecord(_finish_pixels(pixels), _tiff_metadata(tif), kind)


def _is_rgb(page: Any) -> bool:
    return int(getattr(page, "photometric", -1)) == 2 and page.samplesperpixel in (3, 4)


def _check_shape(shape: tuple[int, ...], rgb: bool, samples: int = 1) -> None:
    n_pixels = int(np.prod(shape, dtype=np.float64))
    if n_pixels > MAX_PIXELS:
        raise UnreadableFrame(
            f"image claims shape {shape} = {n_pixels} values, more than the limit {MAX_PIXELS}"
        )
    plane = tuple(d for d in shape if d != 1)
    if rgb and len(plane) == 3 and plane[-1] in (3, 4):
        plane = plane[:-1]
    if len(plane) > 2:
        kind = "multi-channel non-RGB data" if samples > 1 and not rgb else "3-D stack"
        raise UnreadableFrame(f"{kind} of shape {shape}; one 2-D bright-field plane expected")
    if len(plane) < 2 or min(plane) < MIN_SIDE:
        raise UnreadableFrame(f"image of shape {shape} is too small (need >= {MIN_SIDE} px a side)")


def _finish_pixels(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype.kind == "c" or pixels.dtype == bool:
        raise UnreadableFrame(f"unsupported pixel type {pixels.dtype}")
    try:
        plane = to_grayscale(pixels)
    except ValueError as exc:
        raise UnreadableFrame(str(exc)) from exc
    if plane.dtype.kind == "f" and not np.isfinite(plane).all():
        raise UnreadableFrame("float pixels contain NaN or inf")
    return plane


def _tiff_metadata(tif: tifffile.TiffFile) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    imagej = tif.imagej_metadata or {}
    info = imagej.get("Info")
    if isinstance(info, str):
        try:
            parsed = json.loads(info)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            meta.update(parsed)
    if tif.is_ome and tif.ome_metadata:
        meta["ome_xml"] = tif.ome_metadata[:20000]
    return meta


def read_raster(path: Path, size: int) -> ImageRecord:
    """PNG / JPEG through OpenCV (``IMREAD_UNCHANGED``), with header size checks first."""
    head = _read_head_tail(path)
    shape = _png_shape(head[0], head[1]) if path.suffix.lower() == ".png" else _jpeg_shape(*head)
    _check_shape(shape, rgb=False)
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise UnreadableFrame("OpenCV cannot decode the image data")
    if pixels.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if pixels.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        if pixels.shape[2] not in (3, 4):
            raise UnreadableFrame(f"{pixels.shape[2]}-channel image; gray or RGB expected")
        pixels = cv2.cvtColor(pixels, code)
    return ImageRecord(_finish_pixels(pixels), {}, path.suffix.lower().lstrip("."))


def _read_head_tail(path: Path) -> tuple[bytes, bytes]:
    with path.open("rb") as handle:
        head = handle.read(65536)
        handle.seek(0, 2)
        end = handle.tell()
        handle.seek(max(0, end - 64))
        tail = handle.read(64)
    return head, tail


def _png_shape(head: bytes, tail: bytes) -> tuple[int, ...]:
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        raise UnreadableFrame(f"not a PNG file (starts with {head[:8]!r})")
    if len(head) < 33:
        raise IncompleteFile("PNG header incomplete")
    width, height = struct.unpack(">II", head[16:24])
    if b"IEND" not in tail:
        raise IncompleteFile("PNG has no IEND chunk (truncated)")
    return (height, width)


def _jpeg_shape(head: bytes, tail: bytes) -> tuple[int, ...]:
    if not head.startswith(b"\xff\xd8"):
        raise UnreadableFrame(f"not a JPEG file (starts with {head[:4]!r})")
    if b"\xff\xd9" not in tail.rstrip(b"\x00"):
        raise IncompleteFile("JPEG has no end-of-image marker (truncated)")
    pos = 2
    while pos + 9 <= len(head):
        if head[pos] != 0xFF:
            raise UnreadableFrame("corrupt JPEG marker stream")
        marker = head[pos + 1]
        length = struct.unpack(">H", head[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", head[pos + 5 : pos + 9])
            return (height, width)
        pos += 2 + length
    raise UnreadableFrame("JPEG frame header not found in the first 64 KiB")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:limit]
