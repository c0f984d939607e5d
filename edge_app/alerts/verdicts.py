"""Protocol and growth verdicts: predictions compared with the plate map, with evidence.

A protocol mismatch needs evidence, so false alerts are bounded by design: the expected value
must lie outside the head's split-conformal prediction set at the configured error rate, and
this must persist over ``k`` usable frames of the same well. Ordinal labels (seeding density,
timepoint) compare with a tolerance in their own units. Labels the paper shows to be
acquisition artefacts or unlearnable are recorded but do not alert by default.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_app.core.results import Alert, FrameResult, Severity

#: Recorded, never alerted on by default (paper: acquisition artefacts / unlearnable).
SILENT_LABELS = frozenset({"technical_rep", "microscope", "magnification"})
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class HeadCalibration:
    """One IPP head: its ordered classes, whether ordinal, and its conformal threshold.

    ``qhat`` is the split-conformal quantile of the score ``1 - p(true class)`` at the chosen
    error rate: the prediction set is every class with ``p >= 1 - qhat``.
    """

    classes: tuple[str, ...]
    qhat: float
    ordinal: bool = False


@dataclass(frozen=True)
class OrdinalTolerance:
    """How far an ordinal prediction may sit from the expected value and still agree.

    Seeding density compares on a log scale (``fold``: 1.5 means within 1.5x), time in hours.
    """

    density_fold: float = 1.5
    hours: float = 12.0


def prediction_set(probabilities: Mapping[str, float], qhat: float) -> set[str]:
    """Classes whose probability reaches ``1 - qhat`` (never empty: the top class stays in)."""
    threshold = 1.0 - qhat
    chosen = {label for label, p in probabilities.items() if p >= threshold}
    return chosen or {max(probabilities, key=probabilities.__getitem__)}


def _number(text: str) -> float | None:
    match = _NUMBER.search(str(text).replace(",", ""))
    return float(match.group()) if match else None


def agrees(label: str, expected: str, members: set[str], tol: OrdinalTolerance,
           ordinal: bool) -> bool:
    """True when ``expected`` is in the prediction set (ordinal: within tolerance of a member)."""
    if not ordinal:
        key = _canon(expected)
        return any(_canon(m) == key for m in members)
    want = _number(expected)
    values = [v for v in (_number(m) for m in members) if v is not None]
    if want is None or not values:
        return False
    if label == "seeding_density":
        return any(abs(math.log(max(v, 1e-9) / max(want, 1e-9))) <= math.log(tol.density_fold)
                   for v in values)
    return any(abs(v - want) <= tol.hours for v in values)


def _canon(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", str(text).casefold())


@dataclass
class ProtocolVerdictRule:
    """Alert when a well's predictions disagree with its plate-map row over ``persist`` frames."""

    heads: dict[str, HeadCalibration]
    persist: int = 2
    tolerance: OrdinalTolerance = field(default_factory=OrdinalTolerance)
    silent: frozenset[str] = SILENT_LABELS
    name: str = "protocol"

    def __post_init__(self) -> None:
        self._streak: dict[tuple[Any, ...], int] = {}
        self._alerted: set[tuple[Any, ...]] = set()

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        if result.predictions is None or expected is None or not result.usable:
            return []
        wanted = dict(expected.labels)
        if "timepoint" in self.heads and result.hours is not None:
            wanted["timepoint"] = f"{result.hours:g}"
        alerts = []
        for label, head in self.heads.items():
            if label in self.silent or label not in wanted or label not in result.predictions:
                continue
            alert = self._judge(result, label, head, wanted[label], now)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _judge(self, result: FrameResult, label: str, head: HeadCalibration, want: str,
               now: datetime) -> Alert | None:
        probs = result.predictions[label]  # type: ignore[index]
        members = prediction_set(probs, head.qhat)
        key = (result.meta.plate_id, result.meta.well, label)
        if agrees(label, want, members, self.tolerance, head.ordinal):
            self._streak[key] = 0
            self._alerted.discard(key)
            return None
        self._streak[key] = self._streak.get(key, 0) + 1
        if self._streak[key] < self.persist or key in self._alerted:
            return None
        self._alerted.add(key)
        top = max(probs, key=probs.__getitem__)
        return Alert(
            kind="protocol", severity=Severity.CRITICAL,
            message=(f"{result.meta.well}: {label} looks like {top} ({probs[top]:.0%}), "
                     f"plate map says {want}; {self._streak[key]} frames in a row"),
            uri=result.meta.uri, plate_id=result.meta.plate_id, well=result.meta.well,
            raised_at=now, label=label, expected=want, observed=top,
        )


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
