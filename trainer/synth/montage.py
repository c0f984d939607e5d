"""Contact sheets: synthetic images beside real ones, for a by-eye realism check."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from trainer.synth.atlas import AtlasStream

logger = logging.getLogger(__name__)

_IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


def real_data_dir() -> Path:
    """The shared real images: ``$SENTINEL_REAL_DATA`` or ``<checkout>/../shared/data/real``."""
    override = os.environ.get("SENTINEL_REAL_DATA")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "real"


def real_images(root: Path, limit: int = 16) -> list[Path]:
    """Up to ``limit`` real images (``images/`` or ``frames/`` folders, never masks)."""
    found = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in _IMAGE_SUFFIXES and p.parent.name in ("images", "frames")
    )
    if len(found) <= limit:
        return found
    picks = np.linspace(0, len(found) - 1, limit).round().astype(int)
    return [found[i] for i in picks]


def to_tile(image: np.ndarray, size: int) -> np.ndarray:
    """A square uint8 tile: percentile-stretched, centre-cropped, resized."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3:
        pixels = pixels[..., :3].mean(axis=-1)
    lo, hi = np.percentile(pixels, [0.5, 99.5])
    pixels = np.clip((pixels - lo) / max(hi - lo, 1e-6), 0.0, 1.0) * 255.0
    h, w = pixels.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = pixels[top : top + side, left : left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.uint8)


def contact_sheet(
    sections: Sequence[tuple[str, Sequence[np.ndarray]]], tile: int = 160, columns: int = 8
) -> np.ndarray:
    """Stack titled sections of tiles into one uint8 sheet."""
    blocks = []
    for title, images in sections:
        header = np.full((28, columns * tile), 255, np.uint8)
        cv2.putText(header, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 0, 1, cv2.LINE_AA)
        tiles = [to_tile(image, tile) for image in images]
        tiles += [np.full((tile, tile), 255, np.uint8)] * (-len(tiles) % columns)
        rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
        blocks += [header, *rows]
    return np.vstack(blocks)


def write_synthetic_vs_real(
    out: Path, n: int = 32, seed: int = 1, real_root: Path | None = None, tile: int = 160
) -> Path:
    """Write a PNG of ``n`` atlas images above the real images found under ``real_root``."""
    synthetic = [sample.image for sample in AtlasStream(seed).take(n)]
    sections: list[tuple[str, Sequence[np.ndarray]]] = [
        (f"synthetic atlas (seed {seed}), {n} images", synthetic)
    ]
    root = real_root or real_data_dir()
    paths = real_images(root) if root.is_dir() else []
    if paths:
        loaded = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in paths]
        sections.append(
            (
                f"real bright-field images ({root.name}/)",
                [image for image in loaded if image is not None],
            )
        )
    else:
        logger.warning("no real images under %s; the sheet shows synthetic images only", root)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), contact_sheet(sections, tile), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"could not write {out}")
    return out
