"""Shared preprocessing: from a raw frame of any bit depth to a small normalised image.

Resize first (OpenCV ``INTER_AREA`` on the integer frame), then compute the normalisation
percentiles on a subsample of the small image and normalise it. The trainer and every runtime
use these functions, so training and inference inputs cannot drift.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

logger = logging.getLogger(__name__)

#: dtypes ``cv2.resize`` handles directly; anything else is converted to float32 first.
_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
#: Normalisation percentiles (low, high): robust to a few hot or dead pixels.
DEFAULT_PERCENTILES = (0.5, 99.5)
_MAX_SAMPLES = 65_536


def as_plane(pixels: np.ndarray) -> np.ndarray:
    """Return one 2-D plane: singleton axes dropped, RGB(A) averaged over its colour channels.

    Raises:
        ValueError: when the array is not one plane (a stack, 1-D data, empty).
    """
    array = np.squeeze(np.asarray(pixels))
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1, dtype=np.float32)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"expected one non-empty 2-D plane, got shape {np.shape(pixels)}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    return array


def resize_area(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D plane to ``size`` = (height, width) with area averaging, keeping integers.

    Non-finite floats propagate into the pixels they touch; :func:`normalise` repairs them.
    """
    height, width = size
    if plane.dtype.type not in _CV_DTYPES:
        plane = plane.astype(np.float32)
    if plane.shape == (height, width):
        return plane
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_AREA)


def analysis_size(shape: tuple[int, int], max_side: int) -> tuple[tuple[int, int], float]:
    """The (height, width) to analyse a frame of ``shape`` at, and the scale back.

    Frames are only shrunk, never enlarged. ``scale`` is original pixels per analysis pixel.
    """
    if max_side < 8:
        raise ValueError(f"max_side must be at least 8, got {max_side}")
    height, width = shape
    scale = max(1.0, max(height, width) / max_side)
    size = (max(1, round(height / scale)), max(1, round(width / scale)))
    return size, scale


def normalise(
    small: np.ndarray, percentiles: tuple[float, float] = DEFAULT_PERCENTILES
) -> np.ndarray:
    """Map the ``percentiles`` range of an image to [0, 1] as float32 (NaN/inf-safe).

    Non-finite pixels take the median of the finite ones; an image without contrast (or
    without any finite pixel) becomes all zeros.
    """
    image = small.astype(np.float32, copy=True)
    finite = np.isfinite(image)
    all_finite = bool(finite.all())
    samples = image if all_finite else image[finite]
    if samples.size == 0:
        return np.zeros(image.shape, np.float32)
    step = max(1, int(np.sqrt(samples.size / _MAX_SAMPLES)))
    sub = samples[::step, ::step] if samples.ndim == 2 else samples[:: step * step]
    low, high = np.percentile(sub, percentiles)
    if not all_finite:
        image[~finite] = float(np.median(sub))
    if not high > low:
        return np.zeros(image.shape, np.float32)
    image -= np.float32(low)
    image *= np.float32(1.0 / (high - low))
    return np.clip(image, 0.0, 1.0, out=image)


def analysis_image(
    pixels: np.ndarray,
    max_side: int = 512,
    percentiles: tuple[float, float] = DEFAULT_PERCENTILES,
) -> tuple[np.ndarray, float]:
    """Shrink a frame so its longer side is at most ``max_side`` and normalise it to [0, 1].

    Handles 8/12/16-bit integers and floats (NaN/inf-safe), RGB and singleton axes.

    Returns:
        ``(image, scale)``: float32 image in [0, 1] and original pixels per analysis pixel.
    """
    plane = as_plane(pixels)
    size, scale = analysis_size(plane.shape, max_side)
    return normalise(resize_area(plane, size), percentiles), scale


def to_model_input(
    pixels: np.ndarray,
    size: tuple[int, int],
    mean: float | Sequence[float] = 0.0,
    std: float | Sequence[float] = 1.0,
    channels: int = 1,
) -> np.ndarray:
    """A network input of shape (1, channels, height, width), float32.

    The frame is resized to ``size`` = (height, width) (aspect ratio not kept, as in
    training), percentile-normalised to [0, 1], then standardised with ``mean`` and ``std``.
    """
    return standardise(normalise(resize_area(as_plane(pixels), size)), mean, std, channels)


def standardise(image: np.ndarray, mean: float | Sequence[float] = 0.0,
                std: float | Sequence[float] = 1.0, channels: int = 1) -> np.ndarray:
    """A normalised [0, 1] image as a network input (1, channels, height, width), float32.

    Grayscale is repeated over ``channels``; then ``(x - mean) / std``, where ``mean`` and
    ``std`` are scalars or one value per channel (e.g. ImageNet's).
    """
    mean_c = np.broadcast_to(np.asarray(mean, np.float32), (channels,))[:, None, None]
    std_c = np.broadcast_to(np.asarray(std, np.float32), (channels,))[:, None, None]
    if (std_c <= 0).any():
        raise ValueError(f"std must be positive, got {std}")
    plane = image.astype(np.float32, copy=False)[None]
    return np.ascontiguousarray(((plane - mean_c) / std_c)[None], dtype=np.float32)
