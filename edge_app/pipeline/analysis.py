"""Per-frame analysis: segmentation -> morphometry -> quality -> ``FrameResult``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from edge_app.core.frames import Frame
from edge_app.core.results import FrameResult, Quality
from engines.morphometry import shape_descriptors
from engines.quality import QualityConfig, assess


class Segmenter(Protocol):
    """Anything that turns a 2-D frame into a ``SegmentationOutput`` (classical or engine)."""

    name: str

    def segment(self, pixels: Any) -> Any: ...


class FrameAnalyser:
    """Runs the per-frame stages and times each one."""

    def __init__(
        self,
        segmenter: Segmenter,
        *,
        quality: QualityConfig | None = None,
        clock: Callable[[], datetime],
    ) -> None:
        self.segmenter = segmenter
        self.quality = quality or QualityConfig()
        self.clock = clock

    def warmup(self) -> None:
        """Run the stages once on a blank frame so lazy imports and caches are paid up front."""
        blank = np.full((256, 256), 1000, np.uint16)
        blank[96:160, 96:160] = 400
        seg = self.segmenter.segment(blank)
        if seg.found:
            shape_descriptors(seg.mask, scale=seg.scale)
        assess(seg, self.quality)

    def analyse(self, frame: Frame, plate: Any | None) -> FrameResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        seg = self.segmenter.segment(frame.pixels)
        t1 = time.perf_counter()
        shape = shape_descriptors(seg.mask, scale=seg.scale) if seg.found else None
        t2 = time.perf_counter()
        reasons = assess(seg, self.quality)
        quality = tuple(Quality(r) for r in reasons) or (Quality.OK,)
        t3 = time.perf_counter()
        timings.update(segment=(t1 - t0) * 1e3, morphometry=(t2 - t1) * 1e3,
                       quality=(t3 - t2) * 1e3)
        if "read_ms" in frame.meta.extra:
            timings["read"] = float(frame.meta.extra["read_ms"])
        return FrameResult(
            meta=frame.meta, sha=frame.sha, width=int(frame.pixels.shape[1]),
            height=int(frame.pixels.shape[0]), dtype=str(frame.pixels.dtype), shape=shape,
            quality=quality, focus=float(seg.focus), n_objects=int(seg.n_objects),
            segmenter=self.segmenter.name, hours=self._hours(frame, plate),
            processed_at=self.clock(), timings_ms=timings,
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
