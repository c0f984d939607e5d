"""The shared real images (``shared/data/real``) and the figures every segmenter is scored by.

Two figures, computed the same way for the classical fallback and for future engines:

* :func:`crop_plausibility`: on the 50 real bright-field crops, how many segmentations are a
  plausible single spheroid (:func:`is_plausible_spheroid`).
* :func:`goat_dice`: on the 4 GOAT organoid fields, the Dice coefficient of the segmenter's
  foreground (every object it found) against the union of the ground-truth organoid masks.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from engines.classical import SegmentationOutput
from engines.metrics import dice
from engines.morphometry import shape_descriptors

#: Environment variable that overrides where the real data lives.
REAL_DATA_ENV = "SENTINEL_REAL_DATA"
CROPS = "cparent3_spheroid_crops"
GOAT = "goat_organoids"


class Segmenter(Protocol):
    """Anything that turns a frame into a :class:`SegmentationOutput`."""

    name: str

    def segment(self, pixels: np.ndarray) -> SegmentationOutput: ...


@dataclass(frozen=True)
class GoatField:
    """One GOAT field: 8-bit image and the union of its organoid masks (bool)."""

    name: str
    image: np.ndarray
    truth: np.ndarray


def real_data_root() -> Path | None:
    """``$SENTINEL_REAL_DATA``, else ``shared/data/real`` beside the checkout; None if absent."""
    override = os.environ.get(REAL_DATA_ENV)
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"
    root = Path(override) if override else default
    return root.resolve() if root.is_dir() else None


def _root(root: Path | None) -> Path:
    found = root or real_data_root()
    if found is None:
        raise FileNotFoundError(
            f"real data not found: set {REAL_DATA_ENV} or put shared/data/real beside the checkout"
        )
    return found


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return image


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def load_crops(root: Path | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield ``(file name, 16-bit image)`` for each real crop, in ``index.csv`` order."""
    folder = _root(root) / CROPS
    for row in _rows(folder / "index.csv"):
        yield Path(row["filename"]).name, _read(folder / row["filename"])


def load_goat_fields(root: Path | None = None) -> Iterator[GoatField]:
    """Yield each GOAT field with its binary union ground-truth mask."""
    folder = _root(root) / GOAT
    for row in _rows(folder / "index.csv"):
        truth = _read(folder / row["mask_binary"]) > 0
        yield GoatField(Path(row["filename"]).stem, _read(folder / row["filename"]), truth)


def is_plausible_spheroid(seg: SegmentationOutput) -> bool:
    """True when a segmentation is a plausible single spheroid.

    Definition: an object was kept; it is the only significant object of comparable size
    (``n_objects == 1``); it covers between 2% and 90% of the image; it does not touch the
    image border; and it is compact (solidity > 0.8: no debris cloud, fibre or fragments).
    """
    if not seg.found or seg.n_objects != 1 or seg.touches_border:
        return False
    fraction = float(seg.mask.mean())
    shape = shape_descriptors(seg.mask)
    return 0.02 <= fraction <= 0.9 and shape is not None and shape.solidity > 0.8


def crop_plausibility(segmenter: Segmenter, root: Path | None = None) -> tuple[int, int]:
    """``(n_plausible, n_total)`` of ``segmenter`` over the real crops."""
    verdicts = [is_plausible_spheroid(segmenter.segment(image)) for _, image in load_crops(root)]
    return sum(verdicts), len(verdicts)


def goat_dice(segmenter: Segmenter, root: Path | None = None) -> list[float]:
    """Dice of ``segmenter``'s foreground against the union truth, one value per GOAT field.

    The truth is area-resampled to the segmentation's resolution (a pixel is foreground when
    more than half of it is).
    """
    scores = []
    for field in load_goat_fields(root):
        seg = segmenter.segment(field.image)
        height, width = seg.foreground.shape
        truth = cv2.resize(
            field.truth.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA
        )
        scores.append(dice(seg.foreground, truth > 0.5))
    return scores


#: The real-image check as a segmentation bundle's manifest stores it (``metrics``), for the
#: engine and for the classical segmenter, written by ``trainer/train/realcheck.py``.
REAL_CHECK_METRICS = ("real/crops", "real/engine_plausible_crops",
                      "real/classical_plausible_crops", "real/engine_goat_mean_dice",
                      "real/classical_goat_mean_dice")


def better_segmenter(metrics: dict[str, float]) -> tuple[str | None, str]:
    """``"engine"`` or ``"classical"``: which did better on the bundle's real-image check.

    More plausible single spheroids on the real crops wins; a tie goes to the higher mean
    GOAT Dice; the engine must beat the classical segmenter to be chosen. ``(None, why)``
    when the bundle carries no real-image check (then nothing is known either way).
    """
    if not all(key in metrics for key in REAL_CHECK_METRICS[:3]):
        return None, "the bundle carries no real-image check"
    engine = (metrics["real/engine_plausible_crops"],
              metrics.get("real/engine_goat_mean_dice", 0.0))
    classical = (metrics["real/classical_plausible_crops"],
                 metrics.get("real/classical_goat_mean_dice", 0.0))
    crops = int(metrics["real/crops"])
    why = (f"real-image check: engine {engine[0]:.0f}/{crops} plausible crops, GOAT Dice "
           f"{engine[1]:.3f}; classical {classical[0]:.0f}/{crops}, {classical[1]:.3f}")
    return ("engine" if engine > classical else "classical"), why


def auto_segmenter_choice(bundle: Path | None) -> tuple[str, str]:
    """What ``segmentation.backend = auto`` runs: ``("engine" | "classical", why)``.

    No bundle: classical. A bundle whose real-image check (:func:`better_segmenter`) the
    classical segmenter wins: classical. Otherwise the engine (a bundle without the check,
    e.g. one trained on a PC without the shared real images, is taken as given).
    """
    from engines.bundle import read_manifest

    if bundle is None:
        return "classical", "no segmentation engine bundle installed"
    choice, why = better_segmenter(dict(read_manifest(Path(bundle)).metrics))
    return choice or "engine", why
