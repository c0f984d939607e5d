"""Spheroid outlines: an irregular, rough ellipse with loose cells, drawn as a binary mask.

Everything here is vectorised (one polygon fill plus a few circles), so a 512 x 512 mask costs
well under a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_N_POINTS = 360
_SHIFT = 4  # sub-pixel bits for cv2 drawing
_LOBE_ORDERS = np.arange(2, 6)
_ROUGH_ORDERS = np.arange(8, 64)
# Per-order weights normalised so that the summed profile has the requested std.
_LOBE_WEIGHTS = (1.0 / _LOBE_ORDERS) / np.sqrt(np.sum(1.0 / _LOBE_ORDERS**2) / 2)
_ROUGH_WEIGHTS = (1.0 / np.sqrt(_ROUGH_ORDERS)) / np.sqrt(np.sum(1.0 / _ROUGH_ORDERS) / 2)


@dataclass(frozen=True)
class Outline:
    """A spheroid's geometry in pixels. Arrays are read-only after creation."""

    center: tuple[float, float]
    radius: float
    axis_ratio: float
    angle: float
    lobe_amps: np.ndarray
    lobe_phases: np.ndarray
    rough_amps: np.ndarray
    rough_phases: np.ndarray
    bleb_angles: np.ndarray
    bleb_sizes: np.ndarray

    def __post_init__(self) -> None:
        for name in (
            "lobe_amps",
            "lobe_phases",
            "rough_amps",
            "rough_phases",
            "bleb_angles",
            "bleb_sizes",
        ):
            getattr(self, name).setflags(write=False)


def random_outline(
    rng: np.random.Generator,
    *,
    axis_ratio_range: tuple[float, float],
    lobes: float,
    rough: float,
    blebs: float,
) -> Outline:
    """Draw the time-invariant geometry of one spheroid (radius and centre are set later)."""
    lobe_amps = rng.normal(0.0, lobes, _LOBE_ORDERS.size) * _LOBE_WEIGHTS
    rough_amps = rng.normal(0.0, rough, _ROUGH_ORDERS.size) * _ROUGH_WEIGHTS
    n_blebs = int(rng.poisson(blebs))
    return Outline(
        center=(0.0, 0.0),
        radius=1.0,
        axis_ratio=float(rng.uniform(*axis_ratio_range)),
        angle=float(rng.uniform(0.0, np.pi)),
        lobe_amps=lobe_amps,
        lobe_phases=rng.uniform(0.0, 2 * np.pi, _LOBE_ORDERS.size),
        rough_amps=rough_amps,
        rough_phases=rng.uniform(0.0, 2 * np.pi, _ROUGH_ORDERS.size),
        bleb_angles=rng.uniform(0.0, 2 * np.pi, n_blebs),
        bleb_sizes=rng.uniform(0.04, 0.11, n_blebs),
    )


def radial_profile(outline: Outline, theta: np.ndarray, rough_scale: float = 1.0) -> np.ndarray:
    """Relative radius at angles ``theta`` (1.0 is the mean radius)."""
    lobes = outline.lobe_amps @ np.cos(np.outer(_LOBE_ORDERS, theta) + outline.lobe_phases[:, None])
    rough = outline.rough_amps @ np.cos(
        np.outer(_ROUGH_ORDERS, theta) + outline.rough_phases[:, None]
    )
    return np.clip(1.0 + lobes + rough_scale * rough, 0.6, 1.4)


def _to_image(outline: Outline, theta: np.ndarray, radius: np.ndarray) -> np.ndarray:
    x = radius * np.cos(theta)
    y = radius * np.sin(theta) * outline.axis_ratio
    cos_a, sin_a = np.cos(outline.angle), np.sin(outline.angle)
    cx, cy = outline.center
    return np.stack([cx + x * cos_a - y * sin_a, cy + x * sin_a + y * cos_a], axis=-1)


def draw_mask(outline: Outline, shape: tuple[int, int], rough_scale: float = 1.0) -> np.ndarray:
    """Binary mask (uint8 0/255) of the outline and its loose cells."""
    theta = np.linspace(0.0, 2 * np.pi, _N_POINTS, endpoint=False)
    points = _to_image(outline, theta, outline.radius * radial_profile(outline, theta, rough_scale))
    mask = np.zeros(shape, np.uint8)
    scale = float(1 << _SHIFT)
    cv2.fillPoly(mask, [np.round(points * scale).astype(np.int32)], 255, cv2.LINE_8, _SHIFT)
    if outline.bleb_angles.size:
        edge = outline.radius * radial_profile(outline, outline.bleb_angles, rough_scale)
        centres = _to_image(outline, outline.bleb_angles, edge * 0.98)
        for (x, y), size in zip(centres, outline.bleb_sizes, strict=True):
            radius = max(1.0, size * outline.radius)
            cv2.circle(
                mask,
                (round(x * scale), round(y * scale)),
                round(radius * scale),
                255,
                -1,
                cv2.LINE_8,
                _SHIFT,
            )
    return mask
