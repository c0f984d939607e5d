"""Per-frame analysis: segmentation -> morphometry -> quality -> IPP -> forecast.

Frames are analysed in batches when several wait (the engines run one batched call per
stage); a batch of one is the low-latency path. Every stage is timed per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from edge_app.alerts.conformal import IPPFrameOutput, run_ipp
from edge_app.alerts.features import appearance
from edge_app.core.frames import Frame
from edge_app.core.results import FrameResult, Quality
from edge_app.pipeline.forecasting import WellHistory
from engines.morphometry import ShapeDescriptors, shape_descriptors
from engines.quality import QualityConfig, assess


class Segmenter(Protocol):
    """Anything that turns a 2-D frame into a ``SegmentationOutput`` (classical or engine)."""

    name: str

    def segment(self, pixels: Any) -> Any: ...


def _segment_all(segmenter: Segmenter, frames: Sequence[Frame]) -> list[Any]:
    batch = getattr(segmenter, "segment_batch", None)
    if batch is not None and len(frames) > 1:
        return list(batch([f.pixels for f in frames]))
    return [segmenter.segment(f.pixels) for f in frames]


def engine_record(engine: Any) -> dict[str, str | None]:
    """What ran one stage: engine name, bundle folder name, bundle hash and runtime kind.

    The classical segmenter has no bundle (``bundle``/``hash`` are ``None``) and runs on the
    CPU; a task engine reports the runtime it loaded (``onnx``, ``torch``, ``torch_fp16``, ...).
    """
    bundle = getattr(engine, "bundle", None)
    runtime = getattr(getattr(engine, "runtime", None), "kind", None)
    return {"name": engine.name, "bundle": bundle.path.name if bundle is not None else None,
            "hash": bundle.digest if bundle is not None else None,
            "runtime": runtime or ("cpu" if bundle is None else "not loaded")}


class FrameAnalyser:
    """Runs the per-frame stages; IPP and forecasting only when their engines are given."""

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        ipp: Any | None = None,
        forecaster: Any | None = None,
        quality: QualityConfig | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.segmenter, self.ipp = segmenter, ipp
        self.history = WellHistory(forecaster)
        self.quality = quality or QualityConfig()
        self.clock = clock

    def warmup(self) -> None:
        """Run the stages once on a blank frame so lazy imports and caches are paid up front."""
        for engine in (self.segmenter, self.ipp, self.history.forecaster):
            if engine is not None and hasattr(engine, "warmup"):
                engine.warmup()
        blank = np.full((256, 256), 1000, np.uint16)
        blank[96:160, 96:160] = 400
        seg = self.segmenter.segment(blank)
        if seg.found:
            shape_descriptors(seg.mask, scale=seg.scale)
        assess(seg, self.quality)

    def engines_used(self) -> dict[str, dict[str, str | None]]:
        """:func:`engine_record` of every stage that runs, by stage (for ``engine_runs``)."""
        stages = {"segmentation": self.segmenter, "ipp": self.ipp,
                  "forecast": self.history.forecaster}
        return {stage: engine_record(e) for stage, e in stages.items() if e is not None}

    def analyse(self, frame: Frame, plate: Any | None) -> FrameResult:
        return self.analyse_batch([frame], plate)[0]

    def analyse_batch(self, frames: Sequence[Frame], plate: Any | None) -> list[FrameResult]:
        return [result for result, _ in self.analyse_with_masks(frames, plate)]

    def analyse_with_masks(self, frames: Sequence[Frame], plate: Any | None
                           ) -> list[tuple[FrameResult, np.ndarray]]:
        """:meth:`analyse_batch`, each result with its mask (analysis size; ``predict``)."""
        t0 = time.perf_counter()
        segs = _segment_all(self.segmenter, frames)
        t1 = time.perf_counter()
        shapes = [shape_descriptors(s.mask, scale=s.scale) if s.found else None for s in segs]
        t2 = time.perf_counter()
        qualities = [tuple(Quality(r) for r in assess(s, self.quality)) or (Quality.OK,)
                     for s in segs]
        t3 = time.perf_counter()
        predictions = self._predict(frames, shapes, qualities)
        t4 = time.perf_counter()
        n = len(frames)
        shared = {"segment": (t1 - t0) * 1e3 / n, "morphometry": (t2 - t1) * 1e3 / n,
                  "quality": (t3 - t2) * 1e3 / n}
        if self.ipp is not None:
            shared["ipp"] = (t4 - t3) * 1e3 / n
        return [(self._result(f, s, sh, q, p, plate, shared), s.mask)
                for f, s, sh, q, p in zip(frames, segs, shapes, qualities, predictions,
                                          strict=True)]

    def _predict(self, frames: Sequence[Frame], shapes: list[ShapeDescriptors | None],
                 qualities: list[tuple[Quality, ...]]) -> list[IPPFrameOutput | None]:
        """IPP on the usable frames only (verdicts ignore the others; empty wells cost 0):
        probabilities, and the embedding and OOD score when the engine exports them."""
        out: list[IPPFrameOutput | None] = [None] * len(frames)
        usable = [i for i, q in enumerate(qualities) if q == (Quality.OK,)]
        if self.ipp is None or not usable:
            return out
        heads = run_ipp(self.ipp, [frames[i].pixels for i in usable],
                        [shapes[i] for i in usable])
        for i, prediction in zip(usable, heads, strict=True):
            out[i] = prediction
        return out

    def _result(self, frame: Frame, seg: Any, shape: ShapeDescriptors | None,
                quality: tuple[Quality, ...], ipp: IPPFrameOutput | None, plate: Any | None,
                shared: dict[str, float]) -> FrameResult:
        timings = dict(shared)
        started = time.perf_counter()
        stats = appearance(frame.pixels, seg.mask) if seg.found else None
        timings["appearance"] = (time.perf_counter() - started) * 1e3
        if "read_ms" in frame.meta.extra:
            timings["read"] = float(frame.meta.extra["read_ms"])
        hours = self._hours(frame, plate)
        started = time.perf_counter()
        key = (frame.meta.plate_id, frame.meta.well, frame.meta.site)
        usable = quality == (Quality.OK,)
        area = shape.area if shape is not None and usable else None
        well = frame.meta.well
        expected = plate.expected(well) if plate is not None and well else None
        labels = expected.labels if expected is not None else None
        forecast, small = self.history.compare(key, frame.pixels, hours, area, labels)
        if usable:
            self.history.remember(key, hours, area, small)
        timings["forecast"] = (time.perf_counter() - started) * 1e3
        return FrameResult(
            meta=frame.meta, sha=frame.sha, width=int(frame.pixels.shape[1]),
            height=int(frame.pixels.shape[0]), dtype=str(frame.pixels.dtype), shape=shape,
            quality=quality, focus=float(seg.focus), n_objects=int(seg.n_objects),
            segmenter=self.segmenter.name, hours=hours, processed_at=self.clock(),
            timings_ms=timings, predictions=ipp.probabilities if ipp else None,
            forecast=forecast, appearance=stats, embedding=ipp.embedding if ipp else None,
            ood_score=ipp.ood_score if ipp else None, in_domain=ipp.in_domain if ipp else None,
        )

    @staticmethod
    def _hours(frame: Frame, plate: Any | None) -> float | None:
        """Hours since seeding: from the source when it knows, else plate map + acquisition time."""
        meta = frame.meta
        if meta.hours is not None:
            return float(meta.hours)
        if plate is None or meta.well is None or meta.acquired_at is None:
            return None
        return plate.hours_since_seeding(meta.well, meta.acquired_at)
