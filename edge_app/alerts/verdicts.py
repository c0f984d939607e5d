"""Growth verdicts, and the names the protocol verdicts used to export.

Protocol alerts moved to :mod:`edge_app.alerts.protocol` (replicate + IPP evidence, e-values,
e-BH); ordinal tolerance and label helpers live in :mod:`edge_app.alerts.ordinal`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge_app.alerts.ordinal import SILENT_LABELS, OrdinalTolerance, agrees
from edge_app.core.results import Alert, FrameResult, Severity

__all__ = ["SILENT_LABELS", "GrowthRule", "OrdinalTolerance", "agrees"]


@dataclass
class GrowthRule:
    """Alert when a frame departs from the forecast made from the well's previous frames."""

    max_area_change: float = 0.35
    min_ssim: float = 0.5
    name: str = "growth"

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        fc = result.forecast
        if fc is None or not result.usable:
            return []
        area_off = abs(math.log(max(fc.area_ratio, 1e-6))) > math.log1p(self.max_area_change)
        if not area_off and (fc.ssim is None or fc.ssim >= self.min_ssim):
            return []
        what = (f"area {fc.area_ratio:.2f}x the forecast" if area_off
                else f"appearance differs from the forecast (SSIM {fc.ssim:.2f})")
        return [Alert(
            kind="growth", severity=Severity.WARNING, message=f"{result.meta.well}: {what}",
            uri=result.meta.uri, plate_id=result.meta.plate_id, well=result.meta.well,
            raised_at=now, label="growth", expected="forecast",
            observed=f"area x{fc.area_ratio:.2f}"
            + (f", ssim {fc.ssim:.2f}" if fc.ssim is not None else ""),
        )]
