"""One labelled image on disk (:class:`ImageRecord`) and the sample protocol datasets read.

A *source* is anything with ``len()``, ``labels(i)`` (cheap, no pixels), ``has_mask(i)``
and ``sample(i)`` (pixels): :class:`RecordSource` reads records from disk,
:class:`trainer.data.atlas_source.AtlasSource` renders synthetic samples on the fly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import tifffile

logger = logging.getLogger(__name__)

#: The paper's nine IPP labels, in the paper's head order (Appendix B.9).
IPP_LABELS = (
    "microscope",
    "cell_line",
    "culture_medium",
    "formation_method",
    "seeding_density",
    "timepoint",
    "biological_rep",
    "technical_rep",
    "magnification",
)
#: Labels whose classes are ordered numbers (compared with a tolerance by the verdicts).
ORDINAL_LABELS = ("seeding_density", "timepoint")


@dataclass(frozen=True)
class ImageRecord:
    """An image file, its mask file (``None`` when missing) and its labels as strings.

    ``labels`` uses the :data:`IPP_LABELS` names (a lab's CSV may add others); ``hours`` is
    the timepoint as a number (``None`` when unknown); ``split`` the split a lab's CSV
    assigns (``train``, ``val`` or ``test``; ``None`` when it does not say).
    """

    image: Path
    mask: Path | None
    labels: Mapping[str, str] = field(hash=False)
    hours: float | None = None
    split: str | None = None

    @property
    def key(self) -> str:
        """A stable identity for splitting (the image path as POSIX text)."""
        return self.image.as_posix()


@dataclass(frozen=True)
class Sample:
    """Pixels of one training sample: a 2-D image, its 2-D boolean mask (or ``None``)."""

    image: np.ndarray
    mask: np.ndarray | None
    labels: Mapping[str, str] = field(hash=False)
    hours: float | None = None


class SampleSource(Protocol):
    """Random access to samples; ``labels``/``has_mask`` must not read pixels."""

    def __len__(self) -> int: ...

    def labels(self, index: int) -> Mapping[str, str]: ...

    def has_mask(self, index: int) -> bool: ...

    def sample(self, index: int) -> Sample: ...


def read_image(path: Path) -> np.ndarray:
    """A 2-D plane from a TIFF/OME-TIFF (tifffile) or PNG/JPEG (OpenCV), original dtype."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        pixels = tifffile.imread(path)
    else:
        import cv2

        loaded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if loaded is None:
            raise ValueError(f"{path}: not a readable image")
        pixels = np.asarray(loaded)
    from engines.preprocess import as_plane

    return as_plane(pixels)


def read_mask(path: Path) -> np.ndarray:
    """A boolean mask (any non-zero pixel is foreground)."""
    return read_image(path) > 0


class RecordSource:
    """Samples read from disk for a list of :class:`ImageRecord`."""

    def __init__(self, records: Sequence[ImageRecord]) -> None:
        self.records = tuple(records)

    def __len__(self) -> int:
        return len(self.records)

    def labels(self, index: int) -> Mapping[str, str]:
        return self.records[index].labels

    def has_mask(self, index: int) -> bool:
        return self.records[index].mask is not None

    def sample(self, index: int) -> Sample:
        record = self.records[index]
        mask = read_mask(record.mask) if record.mask is not None else None
        return Sample(read_image(record.image), mask, record.labels, record.hours)

    def subset(self, indices: Sequence[int]) -> RecordSource:
        """The records at ``indices`` (e.g. one split)."""
        return RecordSource([self.records[i] for i in indices])
