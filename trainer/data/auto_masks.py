"""Masks for a lab's images that have none: computed once by a segmenter, kept as PNGs.

A lab rarely has manual masks. Training the segmentation engine, and fitting the IPP
models' shape statistics, need one per image, so the images without a mask are segmented
by the segmenter that ``segmentation.backend = auto`` would run
(:func:`engines.realdata.auto_segmenter_choice`: the installed engine when its real-image
check does not favour the classical segmenter, else the classical one), and the run says
which it was. The PNGs (0/255, at the segmenter's analysis resolution) are named after the
image's index and stem in ``folder``, and reused when present.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from trainer.data.records import ImageRecord, read_image

logger = logging.getLogger(__name__)


def mask_segmenter(bundle: Path | None = None) -> tuple[Any, str]:
    """The segmenter for missing masks and a phrase naming it (``bundle``: default installed)."""
    from engines.bundle import default_bundle
    from engines.classical import ClassicalSegmenter
    from engines.realdata import auto_segmenter_choice

    bundle = bundle or default_bundle("segmentation")
    choice, why = auto_segmenter_choice(bundle)
    if choice == "classical" or bundle is None:
        return ClassicalSegmenter(), f"the classical segmenter ({why})"
    from engines.tasks import SegmentationEngine

    engine = SegmentationEngine(bundle, "onnx")
    engine.load()
    return engine, f"the segmentation engine {engine.name} in {bundle} ({why})"


def fill_missing_masks(records: Sequence[ImageRecord], folder: Path,
                       segmenter: Any | None = None) -> tuple[list[ImageRecord], str | None]:
    """``records`` with a computed mask for each one that has none, and what computed them.

    An image in which the segmenter finds nothing keeps ``mask=None`` (it is left out of
    segmentation training). Returns ``(records, None)`` when every record has a mask.
    """
    missing = [i for i, r in enumerate(records) if r.mask is None]
    if not missing:
        return list(records), None
    made, used = (segmenter, getattr(segmenter, "name", "given")) if segmenter is not None \
        else mask_segmenter()
    folder.mkdir(parents=True, exist_ok=True)
    out = list(records)
    found = 0
    try:
        for i in missing:
            path = folder / f"{i:05d}_{records[i].image.stem}.png"
            if not path.is_file():
                seg = made.segment(read_image(records[i].image))
                if not seg.found:
                    continue
                if not cv2.imwrite(str(path), np.asarray(seg.mask, np.uint8) * 255):
                    raise OSError(f"cannot write {path}")
            out[i] = replace(records[i], mask=path)
            found += 1
    finally:
        if segmenter is None and hasattr(made, "close"):
            made.close()
    note = (f"{len(missing)} image(s) had no mask: computed with {used}; {found} with an "
            f"object, the rest left without a mask (masks in {folder})")
    logger.warning("%s", note)
    return out, note
