"""``Frame`` and ``FrameMeta``: one image as it leaves a source."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from edge_app.core.wells import normalise_well


@dataclass(frozen=True)
class FrameMeta:
    """Where and when a frame was acquired.

    ``uri`` identifies the frame at its source (a file path, ``path#axes`` inside an NDTiff
    dataset, ``mm://...`` for live frames). ``well`` is canonical (``A1``) or ``None`` when the
    source could not tell. ``hours`` is hours since seeding when known; ``elapsed_s`` the time
    since the acquisition started (Micro-Manager ``ElapsedTime-ms``).
    """

    uri: str
    plate_id: str | None = None
    well: str | None = None
    site: int = 0
    hours: float | None = None
    elapsed_s: float | None = None
    acquired_at: datetime | None = None
    microscope: str | None = None
    magnification: str | None = None
    pixel_size_um: float | None = None
    timepoint_index: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.well is not None:
            object.__setattr__(self, "well", normalise_well(self.well))


def to_grayscale(pixels: np.ndarray) -> np.ndarray:
    """Return a 2-D image: RGB(A) is converted to luminance, singleton axes are dropped.

    Raises ``ValueError`` for anything that is not one plane (stacks, 1-D data).
    """
    array = np.asarray(pixels)
    array = np.squeeze(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        rgb = array[..., :3].astype(np.float32)
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return gray.astype(array.dtype) if np.issubdtype(array.dtype, np.integer) else gray
    if array.ndim != 2:
        raise ValueError(f"expected one 2-D plane, got an array of shape {array.shape}")
    return array


def content_hash(pixels: np.ndarray) -> str:
    """Hex digest of the pixel bytes, shape and dtype (the frame's identity with its URI)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{pixels.shape}|{pixels.dtype.str}|".encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Frame:
    """One 2-D bright-field image and its metadata. Pixels are read-only after creation."""

    pixels: np.ndarray
    meta: FrameMeta
    sha: str = ""

    def __post_init__(self) -> None:
        pixels = to_grayscale(self.pixels).view()  # a view: the caller's flags stay as they were
        pixels.setflags(write=False)
        object.__setattr__(self, "pixels", pixels)
        if not self.sha:
            object.__setattr__(self, "sha", content_hash(pixels))


@dataclass(frozen=True)
class FrameFailure:
    """A file or event that could not become a frame, and why (recorded, never dropped)."""

    uri: str
    reason: str
    sha: str = ""
    size: int = -1
    mtime_ns: int = -1
