"""Render one protocol row to a bright-field spheroid image and its mask.

Deterministic: the spheroid's identity (shape, texture, size jitter) comes from
``identity_seed`` and the frame's noise from ``seed``, so a time series re-uses one identity
while each frame gets fresh camera noise. Label effects are read from the vocabulary data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge_app.simulation import optics
from edge_app.simulation.shape import Outline, draw_mask, random_outline
from edge_app.simulation.vocab import ProtocolRow, Vocabulary

#: Diameter (um) of a freshly formed spheroid per cube root of seeded cells.
_UM_PER_CUBE_ROOT_CELL = 25.0
_NECROSIS_ONSET_H = 72.0


@dataclass(frozen=True)
class Artefacts:
    """Things that go wrong in a well: no spheroid, debris particles, defocus (in um)."""

    empty: bool = False
    debris: int = 0
    defocus_um: float = 0.0


NO_ARTEFACTS = Artefacts()


@dataclass(frozen=True)
class SynthImage:
    """A rendered frame: pixels (uint8/uint16), mask (uint8 0/255) and what made them."""

    image: np.ndarray
    mask: np.ndarray
    row: ProtocolRow
    pixel_size_um: float
    diameter_um: float

    def __post_init__(self) -> None:
        self.image.setflags(write=False)
        self.mask.setflags(write=False)


@dataclass(frozen=True)
class _Look:
    """Appearance parameters of one spheroid at one time."""

    dark: float
    texture: float
    grain_px: float
    core_frac: float
    core_dark: float
    rough_scale: float


def pixel_size_um(row: ProtocolRow, vocab: Vocabulary, width: int) -> float:
    """Micrometres per rendered pixel: camera pixel / magnification, scaled to ``width``."""
    scope = vocab.effect("microscope", row.microscope)
    native = float(scope["camera_pixel_um"]) / row.magnification_factor
    return native * float(scope["native_width"]) / width


def frame_shape(row: ProtocolRow, vocab: Vocabulary, width: int) -> tuple[int, int]:
    """(height, width) of a frame of this microscope scaled to ``width`` pixels."""
    scope = vocab.effect("microscope", row.microscope)
    return round(width * scope["native_height"] / scope["native_width"]), width


class SpheroidRenderer:
    """Draws SLiMIA-like bright-field spheroids; one instance per vocabulary."""

    def __init__(self, vocab: Vocabulary | None = None) -> None:
        self.vocab = vocab or Vocabulary.default()

    def diameter_um(self, row: ProtocolRow, size_jitter: float) -> float:
        """Gompertz growth of the diameter from a density-set starting size."""
        v = self.vocab
        line = v.effect("cell_line", row.cell_line)
        medium = v.effect("culture_medium", row.culture_medium)
        method = v.effect("formation_method", row.formation_method)
        start = _UM_PER_CUBE_ROOT_CELL * max(row.seeding_density, 1) ** (1 / 3)
        start *= line["size"] * medium["size"] * method["size"] * size_jitter
        fold = float(line["fold"]) ** float(medium["growth"])
        progress = 1.0 - np.exp(-float(line["rate"]) * max(row.hours, 0.0))
        return float(start * fold**progress)

    def render(
        self,
        row: ProtocolRow,
        seed: int,
        shape: tuple[int, int] = (512, 512),
        *,
        identity_seed: int | None = None,
        artefacts: Artefacts = NO_ARTEFACTS,
    ) -> SynthImage:
        """Draw ``row`` at ``shape``; same arguments give identical bytes."""
        identity = np.random.default_rng([identity_seed if identity_seed is not None else seed, 1])
        frame_rng = np.random.default_rng([seed, 2])
        scope = self.vocab.effect("microscope", row.microscope)
        px_um = pixel_size_um(row, self.vocab, shape[1])
        outline, jitter, texture_seed = self._identity(row, identity, shape)
        diameter = self.diameter_um(row, jitter)
        radius = min(diameter / 2 / px_um, 0.40 * min(shape))
        outline = replace(outline, radius=radius, center=_centre(outline.center, radius, shape))
        look = self._look(row, px_um)
        field = optics.background(shape, scope, frame_rng)
        mask = np.zeros(shape, np.uint8)
        if not artefacts.empty:
            mask = draw_mask(outline, shape, look.rough_scale)
            texture = optics.smooth_noise(np.random.default_rng(texture_seed), shape, look.grain_px)
            field = _paint_spheroid(field, mask, texture, look, radius)
        field = _paint_debris(field, frame_rng, artefacts.debris, px_um)
        blur_px = float(scope["blur"]) + artefacts.defocus_um / px_um
        image = optics.quantise(optics.defocus(field, blur_px), scope, frame_rng)
        if scope.get("scale_bar"):
            optics.burn_scale_bar(image, px_um)
        return SynthImage(image, mask, row, px_um, 0.0 if artefacts.empty else diameter)

    def _identity(
        self, row: ProtocolRow, rng: np.random.Generator, shape: tuple[int, int]
    ) -> tuple[Outline, float, int]:
        v = self.vocab
        line = v.effect("cell_line", row.cell_line)
        medium = v.effect("culture_medium", row.culture_medium)
        method = v.effect("formation_method", row.formation_method)
        compaction = float(medium["compaction"])
        outline = random_outline(
            rng,
            axis_ratio_range=tuple(method["axis_ratio"]),  # type: ignore[arg-type]
            lobes=float(line["lobes"]) / compaction,
            rough=float(line["rough"]) * float(method["rough"]) / compaction,
            blebs=float(line["blebs"]) * float(method["blebs"]),
        )
        centre = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        jitter = float(np.exp(rng.normal(0.0, float(method["size_cv"]))))
        return replace(outline, center=centre), jitter, int(rng.integers(2**63))

    def _look(self, row: ProtocolRow, px_um: float) -> _Look:
        line = self.vocab.effect("cell_line", row.cell_line)
        medium = self.vocab.effect("culture_medium", row.culture_medium)
        age = max(row.hours - _NECROSIS_ONSET_H, 0.0)
        core = float(line["necrosis"]) * min(1.0, age / 150.0)
        return _Look(
            dark=float(np.clip(float(line["dark"]) + float(medium["dark"]), 0.05, 0.9)),
            texture=float(line["texture"]),
            grain_px=max(1.5, float(line["grain_um"]) / px_um),
            core_frac=0.25 + 0.25 * core if core > 0 else 0.0,
            core_dark=0.35 * core,
            rough_scale=1.0 + min(row.hours, 336.0) / 672.0,
        )


def _centre(
    relative: tuple[float, float], radius: float, shape: tuple[int, int]
) -> tuple[float, float]:
    """Place the spheroid near the middle (fixed as it grows), kept inside the frame."""
    h, w = shape

    def place(offset: float, size: int) -> float:
        margin = min(1.15 * radius, size / 2)
        return float(np.clip(size / 2 + offset * 0.08 * size, margin, size - margin))

    return place(relative[0], w), place(relative[1], h)


def _paint_spheroid(
    field: np.ndarray, mask: np.ndarray, texture: np.ndarray, look: _Look, radius: float
) -> np.ndarray:
    """Darken the field inside the mask: thick centre, dark rim, grain, necrotic core, halo."""
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3) / np.float32(max(radius, 1.0))
    inside = cv2.GaussianBlur((mask > 0).astype(np.float32), (0, 0), 0.8)
    opacity = look.dark * (0.5 + 0.3 * np.minimum(depth * 2.5, 1.0))
    opacity *= 1.0 + look.texture * texture
    rim_px = max(1.0, radius * 0.03)
    opacity += 0.4 * np.exp(-depth * (radius / rim_px))
    if look.core_frac > 0:
        core = 1.0 / (1.0 + np.exp(-(depth - (1.0 - look.core_frac)) * 25.0))
        opacity += look.core_dark * core
    halo = cv2.GaussianBlur(inside, (0, 0), max(1.5, radius * 0.04)) - inside
    shaded = field * (1.0 - inside * np.clip(opacity, 0.0, 0.95))
    return shaded + 0.6 * np.clip(halo, 0.0, None) * field


def _paint_debris(
    field: np.ndarray, rng: np.random.Generator, count: int, px_um: float
) -> np.ndarray:
    """Scatter dark particles (dead cells, dust) of 5-40 um over the frame."""
    if count <= 0:
        return field
    h, w = field.shape
    dirt = np.zeros_like(field)
    for _ in range(count):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        radius = max(1, round(rng.uniform(5.0, 40.0) / px_um / 2))
        cv2.circle(dirt, (x, y), radius, float(rng.uniform(0.3, 0.7)), -1, cv2.LINE_AA)
    return field * (1.0 - cv2.GaussianBlur(dirt, (0, 0), 1.0))
