"""Growth verdicts, and the names the protocol verdicts used to export.

Protocol alerts moved to :mod:`edge_app.alerts.protocol` (replicate + IPP evidence, e-values,
e-BH); ordinal tolerance and label helpers live in :mod:`edge_app.alerts.ordinal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from edge_app.alerts.ordinal import SILENT_LABELS, OrdinalTolerance, agrees
from edge_app.alerts.replicate import slot_key
from edge_app.core.results import Alert, FrameResult, Severity

__all__ = ["SILENT_LABELS", "GrowthRule", "OrdinalTolerance", "agrees"]


@dataclass
class GrowthRule:
    """Alert when a well departs from its forecast far more than the plate's other wells do.

    A forecast misses on every well a little (log-linear extrapolation overshoots decelerating
    growth; a next-frame engine trained on simulator plates predicts real frames loosely), so
    a fixed limit alerts on many wells of a healthy plate. At each time point the rule
    compares a frame's ``log(area / forecast)`` and SSIM with the same figures of the plate's
    other frames there (median and 1.4826 MAD over at least ``min_wells`` wells). A frame is
    off when it is beyond ``max_area_change`` (SSIM: below ``min_ssim``) *and* more than
    ``z`` robust deviations from the plate. A time point is off for a well when at least half
    of its frames there are; the well alerts once, when ``persist`` of its time points are off.
    Sites of one time point show the same spheroid against the same forecast, so they do not
    confirm each other: on five clean bench plates, 2 of 2 sites off at one time point flagged
    0.8-1.4 wells per plate whose forecast had failed once. While fewer than ``min_wells``
    wells have a forecast at a time point, it waits.
    """

    max_area_change: float = 0.35
    min_ssim: float = 0.5
    z: float = 4.0
    min_wells: int = 8
    persist: int = 2
    name: str = "growth"

    def __post_init__(self) -> None:
        # (plate, slot) -> [(well, log ratio, ssim, uri)]
        self._slots: dict[tuple[Any, int], list[tuple[str, float, float | None, str]]] = {}
        self._alerted: set[tuple[Any, str]] = set()
        # (plate, well) -> slot -> (frames off, frames, last off frame and why)
        self._wells: dict[tuple[Any, str], dict[int, tuple[int, int, Any]]] = {}

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        fc, well = result.forecast, result.meta.well
        if fc is None or not result.usable or well is None:
            return []
        plate_id = result.meta.plate_id
        slot = slot_key(result.meta.timepoint_index, result.hours)
        frames = self._slots.setdefault((plate_id, slot), [])
        frames.append((well, math.log(max(fc.area_ratio, 1e-6)), fc.ssim, result.meta.uri))
        if len({w for w, *_ in frames}) < self.min_wells:
            return []
        by_well: dict[str, list[tuple[Any, str]]] = {}
        for frame, why in zip(frames, self._off(frames), strict=True):
            by_well.setdefault(frame[0], []).append((frame, why))
        alerts = []
        for name in sorted(by_well):
            mine = by_well[name]
            bad = [(f, why) for f, why in mine if why]
            history = self._wells.setdefault((plate_id, name), {})
            history[slot] = (len(bad), len(mine), bad[-1] if bad else None)
            off = [h for h in history.values() if h[0] and 2 * h[0] >= h[1]]
            if (plate_id, name) in self._alerted or len(off) < self.persist:
                continue
            self._alerted.add((plate_id, name))
            alerts.append(self._alert(plate_id, name, off, now))
        return alerts

    def _off(self, frames: list[tuple[str, float, float | None, str]]) -> list[str]:
        """Per frame: why it is off the plate (``""``: it is not)."""
        logs = np.array([f[1] for f in frames])
        med, mad = float(np.median(logs)), 1.4826 * float(np.median(np.abs(logs - np.median(logs))))
        limit = max(math.log1p(self.max_area_change), self.z * mad)
        sims = np.array([f[2] for f in frames if f[2] is not None], float)
        s_med = float(np.median(sims)) if len(sims) else 1.0
        s_mad = 1.4826 * float(np.median(np.abs(sims - s_med))) if len(sims) else 0.0
        s_limit = min(self.min_ssim, s_med - self.z * s_mad)
        out = []
        for _, lr, sim, _ in frames:
            if abs(lr - med) > limit and abs(lr) > math.log1p(self.max_area_change):
                out.append(f"area {math.exp(lr):.2f}x the forecast (plate: "
                           f"{math.exp(med):.2f}x)")
            elif sim is not None and sim < s_limit:
                out.append(f"appearance differs from the forecast (SSIM {sim:.2f}, plate "
                           f"{s_med:.2f})")
            else:
                out.append("")
        return out

    def _alert(self, plate_id: Any, well: str, off: list[tuple[int, int, Any]],
               now: datetime) -> Alert:
        (_, lr, sim, uri), why = off[-1][2]
        frames = f"{sum(h[0] for h in off)} of {sum(h[1] for h in off)} frames"
        return Alert(
            kind="growth", severity=Severity.WARNING,
            message=f"{well}: {why}; off at {len(off)} time points ({frames})", uri=uri,
            plate_id=plate_id,
            well=well, raised_at=now, label="growth", expected="forecast",
            observed=f"area x{math.exp(lr):.2f}" + (f", ssim {sim:.2f}" if sim is not None
                                                    else ""),
        )
