"""Microscope optics: illumination, vignetting, blur, noise, bit depth and a scale bar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Unit-variance-ish noise with features about ``cell_px`` pixels wide (float32)."""
    h, w = shape
    small = (max(2, round(h / max(cell_px, 1.0))), max(2, round(w / max(cell_px, 1.0))))
    coarse = rng.standard_normal(small, dtype=np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def background(
    shape: tuple[int, int], scope: Mapping[str, Any], rng: np.random.Generator
) -> np.ndarray:
    """Bright-field background in full-scale units: tilt, vignetting and mottling."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    yy = yy / h - 0.5
    xx = xx / w - 0.5
    tilt = rng.normal(0.0, 1.0, 2).astype(np.float32)
    tilt *= float(scope["gradient"]) / max(float(np.linalg.norm(tilt)), 1e-6)
    field = 1.0 + tilt[0] * xx + tilt[1] * yy
    field -= float(scope["vignetting"]) * 2.0 * (xx * xx + yy * yy)
    field += 0.012 * smooth_noise(rng, shape, min(h, w) / 6.0)
    return field * np.float32(scope["background"])


def defocus(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with ``sigma`` pixels (0 leaves the image alone)."""
    if sigma <= 0.05:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigma)


def quantise(image: np.ndarray, scope: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Add shot and read noise and convert to the camera's bit depth (uint8 or uint16)."""
    bits = int(scope["bits"])
    full = float(2**bits - 1)
    sigma = float(scope["noise"])
    noise = rng.standard_normal(image.shape, dtype=np.float32)
    noisy = image + noise * (sigma * np.sqrt(np.clip(image, 0.0, None) + 0.05))
    scaled = np.clip(noisy * full, 0.0, full)
    return np.rint(scaled).astype(np.uint8 if bits <= 8 else np.uint16)


def burn_scale_bar(image: np.ndarray, pixel_size_um: float, length_um: float = 200.0) -> None:
    """Draw a white scale bar with its length in the bottom-right corner (in place)."""
    h, w = image.shape
    length = round(length_um / pixel_size_um)
    if length < 4 or length > w // 2:
        length_um = 100.0 if length > w // 2 else 500.0
        length = max(4, min(w // 3, round(length_um / pixel_size_um)))
    white = int(np.iinfo(image.dtype).max)
    thick = max(2, h // 150)
    x1, y1 = w - w // 30, h - h // 25
    overlay = np.zeros(image.shape, np.uint8)
    cv2.rectangle(overlay, (x1 - length, y1 - thick), (x1, y1), 255, -1)
    cv2.putText(
        overlay,
        f"{length_um:g} um",
        (x1 - length, y1 - 3 * thick),
        cv2.FONT_HERSHEY_SIMPLEX,
        max(0.3, h / 1400),
        255,
        max(1, h // 512),
    )
    image[overlay > 0] = white
