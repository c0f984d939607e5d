"""Synthetic bright-field frames with known geometry for the engine tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def synthetic_frame(
    size: tuple[int, int] = (512, 512),
    objects: tuple[tuple[float, float, float, float], ...] = ((256, 256, 80, 80),),
    *,
    dark: bool = True,
    blur: float = 0.0,
    seed: int = 0,
    dtype: type = np.uint16,
    background: float = 1000.0,
    contrast: float = 400.0,
    noise: float = 8.0,
) -> np.ndarray:
    """A smooth background with textured, rimmed ellipses ``(row, col, semi_y, semi_x)``."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[: size[0], : size[1]].astype(np.float32)
    image = background + 0.05 * background * cols / size[1]
    texture = cv2.GaussianBlur(rng.normal(0, 1, size).astype(np.float32), (0, 0), 1.5)
    sign = -1.0 if dark else 1.0
    for row, col, semi_y, semi_x in objects:
        radius = np.sqrt(((rows - row) / semi_y) ** 2 + ((cols - col) / semi_x) ** 2)
        inside = radius <= 1.0
        rim = np.abs(radius - 1.0) * min(semi_x, semi_y) < 2.5
        image = image + sign * contrast * (0.5 * inside + 0.5 * rim)
        image = image + contrast * 1.5 * texture * inside
    if blur:
        image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), blur)
    image = image + rng.normal(0, noise, size)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(image), info.min, info.max).astype(dtype)
    return image.astype(dtype)


@pytest.fixture
def draw():
    """The :func:`synthetic_frame` factory."""
    return synthetic_frame
