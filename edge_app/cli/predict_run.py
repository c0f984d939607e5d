"""What ``sentinel predict`` does for one image: segment, measure, check, predict labels."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)


class Predictor:
    """The installed (or given) engines for single files; classical segmentation without one.

    Args:
        segmentation/ipp: bundle folders; ``None`` means the installed default, if any.
        runtime: ``auto | tensorrt | torch | onnx``.
        top: classes reported per IPP head.
    """

    def __init__(self, segmentation: Path | None, ipp: Path | None, runtime: str = "auto",
                 *, top: int = 3) -> None:
        from engines.bundle import default_bundle
        from engines.classical import ClassicalSegmenter
        from engines.tasks import IPPEngine, SegmentationEngine

        self.top = top
        # "classical" / "off" force the fallback / no IPP even when bundles are installed.
        seg_bundle = (None if str(segmentation) == "classical"
                      else segmentation or default_bundle("segmentation"))
        ipp_bundle = None if str(ipp) == "off" else ipp or default_bundle("ipp")
        self.segmenter: Any = (SegmentationEngine(seg_bundle, runtime) if seg_bundle
                               else ClassicalSegmenter())
        self.ipp = IPPEngine(ipp_bundle, runtime) if ipp_bundle else None
        for engine in (self.segmenter, self.ipp):
            if engine is not None and hasattr(engine, "load"):
                engine.load()
        log.info("predict: segmenter %s, ipp %s", self.segmenter.name,
                 self.ipp.name if self.ipp else "none")

    def predict(self, path: Path, masks_out: Path | None = None) -> dict[str, Any]:
        """A JSON-ready record for one image file."""
        from edge_app.sources.readers import UnreadableFrame, read_image
        from engines.morphometry import shape_descriptors
        from engines.quality import assess

        try:
            pixels = read_image(Path(path)).pixels
        except UnreadableFrame as exc:
            raise ValueError(f"{path}: {exc}") from None
        seg = self.segmenter.segment(pixels)
        shape = shape_descriptors(seg.mask, seg.scale) if seg.found else None
        record: dict[str, Any] = {
            "image": str(path), "segmenter": self.segmenter.name,
            "shape": shape.as_dict() if shape else None, "quality": list(assess(seg)),
            "focus": round(float(seg.focus), 4), "n_objects": int(seg.n_objects),
            "labels": self._labels(pixels, shape), "mask": None,
        }
        if masks_out is not None:
            record["mask"] = str(self._write_mask(Path(path), seg.mask, pixels.shape, masks_out))
        return record

    def _labels(self, pixels: np.ndarray, shape: Any) -> dict[str, list[dict[str, Any]]]:
        if self.ipp is None:
            return {}
        heads = self.ipp.predict(pixels, shape)
        return {head: [{"label": label, "p": round(p, 4)} for label, p in
                       sorted(probs.items(), key=lambda kv: -kv[1])[: self.top]]
                for head, probs in heads.items()}

    @staticmethod
    def _write_mask(path: Path, mask: np.ndarray, shape: tuple[int, ...], folder: Path) -> Path:
        """The mask at the image's own size, 0/255 PNG."""
        folder.mkdir(parents=True, exist_ok=True)
        full = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]),
                          interpolation=cv2.INTER_NEAREST)
        out = folder / f"{path.stem}_mask.png"
        if not cv2.imwrite(str(out), full):
            raise OSError(f"cannot write {out}")
        return out

    def close(self) -> None:
        for engine in (self.segmenter, self.ipp):
            if engine is not None and hasattr(engine, "close"):
                engine.close()
