"""What ``sentinel predict`` does for one image: the pipeline's own per-frame analysis.

Each file goes through :class:`~edge_app.pipeline.analysis.FrameAnalyser`, the one place
that runs segmentation -> morphometry -> quality -> IPP -> forecast for ``sentinel watch``,
so a prediction here is what the live app would record for the same frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def predict_engines(segmentation: Path | None, ipp: Path | None, runtime: str
                    ) -> tuple[Any, Any | None]:
    """The segmenter and IPP engine of ``predict`` (loaded).

    ``segmentation=None`` is what ``sentinel watch`` runs by default (``backend = auto``:
    the installed engine unless its real-image check favours the classical segmenter);
    ``ipp=None`` the installed IPP bundle, if any; ``classical`` / ``off`` force the
    classical fallback / no IPP even when bundles are installed.
    """
    from engines.bundle import default_bundle
    from engines.classical import ClassicalSegmenter
    from engines.realdata import auto_segmenter_choice
    from engines.tasks import IPPEngine, SegmentationEngine

    seg_bundle = None if str(segmentation) == "classical" else segmentation
    if segmentation is None:
        installed = default_bundle("segmentation")
        choice, why = auto_segmenter_choice(installed)
        seg_bundle = installed if choice == "engine" else None
        log.info("predict: segmentation (auto): %s (%s)", choice, why)
    ipp_bundle = None if str(ipp) == "off" else ipp or default_bundle("ipp")
    segmenter: Any = (SegmentationEngine(seg_bundle, runtime) if seg_bundle
                      else ClassicalSegmenter())
    engine = IPPEngine(ipp_bundle, runtime) if ipp_bundle else None
    for stage in (segmenter, engine):
        if stage is not None and hasattr(stage, "load"):
            stage.load()
    return segmenter, engine


class MaskNames:
    """Mask file names that never overwrite another image's mask in one run.

    ``1.jpg`` -> ``1_mask.png``; when another image already took that name, the parent
    folder is kept (``b_1_mask.png``), then the suffix (``b_1.jpeg_mask.png``); an image
    with no free name is refused. The same image asked for twice keeps its name.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._owner: dict[Path, Path] = {}

    def claim(self, image: Path) -> Path:
        source = image.resolve()
        for name in (f"{image.stem}_mask.png", f"{image.parent.name}_{image.stem}_mask.png",
                     f"{image.parent.name}_{image.name}_mask.png"):
            out = self.folder / name
            if self._owner.setdefault(out, source) == source:
                return out
        raise ValueError(f"{image}: its mask would overwrite the mask of "
                         f"{self._owner[self.folder / f'{image.stem}_mask.png']}; "
                         "write the masks of these images to separate folders")


class Predictor:
    """Single files through the pipeline's :class:`FrameAnalyser` (no plate, no history).

    Args:
        segmentation/ipp: bundle folders; ``None`` means the installed default, if any.
        runtime: ``auto | tensorrt | torch | onnx``.
        top: classes reported per IPP head.
    """

    def __init__(self, segmentation: Path | None, ipp: Path | None, runtime: str = "auto",
                 *, top: int = 3, clock: Callable[[], datetime] = _utcnow) -> None:
        from edge_app.pipeline.analysis import FrameAnalyser

        self.top = top
        self.segmenter, self.ipp = predict_engines(segmentation, ipp, runtime)
        self.analyser = FrameAnalyser(self.segmenter, ipp=self.ipp, clock=clock)
        self._masks: dict[Path, MaskNames] = {}
        log.info("predict: segmenter %s, ipp %s", self.segmenter.name,
                 self.ipp.name if self.ipp else "none")

    def analyse(self, path: Path) -> tuple[Any, np.ndarray]:
        """The analyser's ``FrameResult`` for one file (read time included) and its mask."""
        from edge_app.core.frames import Frame, FrameMeta
        from edge_app.sources.readers import UnreadableFrame, read_image

        started = time.perf_counter()
        try:
            pixels = read_image(Path(path)).pixels
        except UnreadableFrame as exc:
            raise ValueError(f"{path}: {exc}") from None
        read_ms = (time.perf_counter() - started) * 1e3
        frame = Frame(pixels, FrameMeta(uri=str(path), extra={"read_ms": read_ms}))
        ((result, mask),) = self.analyser.analyse_with_masks([frame], None)
        return result, mask

    def predict(self, path: Path, masks_out: Path | None = None) -> dict[str, Any]:
        """A JSON-ready record for one image file."""
        from edge_app.core.results import Quality

        result, mask = self.analyse(path)
        record: dict[str, Any] = {
            "image": str(path), "segmenter": result.segmenter,
            "shape": result.shape.as_dict() if result.shape else None,
            "quality": [q.value for q in result.quality if q is not Quality.OK],
            "focus": round(float(result.focus), 4), "n_objects": int(result.n_objects),
            "labels": self._labels(result.predictions), "mask": None,
            "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()},
        }
        if masks_out is not None:
            names = self._masks.setdefault(Path(masks_out), MaskNames(Path(masks_out)))
            out = names.claim(Path(path))
            record["mask"] = str(self._write_mask(out, mask, (result.height, result.width)))
        return record

    def _labels(self, predictions: dict[str, dict[str, float]] | None
                ) -> dict[str, list[dict[str, Any]]]:
        """Top classes per head; empty without IPP or on a frame unfit for it (see quality)."""
        return {head: [{"label": label, "p": round(p, 4)} for label, p in
                       sorted(probs.items(), key=lambda kv: -kv[1])[: self.top]]
                for head, probs in (predictions or {}).items()}

    @staticmethod
    def _write_mask(out: Path, mask: np.ndarray, shape: tuple[int, int]) -> Path:
        """The mask at the image's own size, 0/255 PNG."""
        out.parent.mkdir(parents=True, exist_ok=True)
        full = cv2.resize(mask.astype(np.uint8) * 255, (shape[1], shape[0]),
                          interpolation=cv2.INTER_NEAREST)
        if not cv2.imwrite(str(out), full):
            raise OSError(f"cannot write {out}")
        return out

    def close(self) -> None:
        for engine in (self.segmenter, self.ipp):
            if engine is not None and hasattr(engine, "close"):
                engine.close()
