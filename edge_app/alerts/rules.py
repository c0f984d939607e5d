"""The ``AlertRule`` seam and the rule registry.

A rule sees each :class:`FrameResult` with the plate protocol and returns alerts. Rules keep
per-well state so a persistent condition alerts once, not on every frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from edge_app.core.results import Alert, FrameResult, Quality, Severity

log = logging.getLogger(__name__)

_QUALITY_TEXT = {
    Quality.NO_SPHEROID: "no spheroid found",
    Quality.SEVERAL_OBJECTS: "several objects in the field",
    Quality.TOUCHES_BORDER: "the spheroid touches the image border",
    Quality.OUT_OF_FOCUS: "the image is out of focus",
}


class AlertRule(Protocol):
    """``evaluate`` returns the alerts one frame raises (often none)."""

    name: str

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]: ...


class QualityRule:
    """Alert when a well's frame is unfit for verdicts; once per well and reason until it clears.

    An empty field is critical when the plate map says the well was seeded, informational for
    a well the plate map does not list.
    """

    name = "quality"

    def __init__(self) -> None:
        self._open: dict[tuple[str | None, str | None, int], set[Quality]] = {}

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        meta = result.meta
        key = (meta.plate_id, meta.well, meta.site)
        issues: set[Quality] = {q for q in result.quality if q is not Quality.OK}
        already = self._open.get(key, set())
        self._open[key] = issues
        return [self._alert(result, issue, expected, now) for issue in sorted(issues - already)]

    @staticmethod
    def _alert(result: FrameResult, issue: Quality, expected: Any, now: datetime) -> Alert:
        severity = Severity.WARNING
        if issue is Quality.NO_SPHEROID:
            severity = Severity.CRITICAL if expected is not None else Severity.INFO
        where = f"{result.meta.well or '?'} site {result.meta.site}"
        return Alert(
            kind="quality", severity=severity, message=f"{where}: {_QUALITY_TEXT[issue]}",
            uri=result.meta.uri, plate_id=result.meta.plate_id, well=result.meta.well,
            raised_at=now, label=None, expected=None, observed=issue.value,
        )


def _protocol(plate: Any = None, calibration: Any = None, fdr: float = 0.05,
              error_rate: float = 0.01, tolerance: Any = None, persist: int = 2,
              **_: Any) -> AlertRule | None:
    from edge_app.alerts.ordinal import OrdinalTolerance
    from edge_app.alerts.protocol import ProtocolEvidenceRule

    if calibration is None:
        log.info("protocol alerts: no IPP calibration scores; replicate evidence only")
    return ProtocolEvidenceRule(plate=plate, calibration=calibration, fdr=fdr,
                                error_rate=error_rate, persist=persist,
                                tolerance=tolerance or OrdinalTolerance())


def _growth(growth: Any = None, **_: Any) -> AlertRule:
    """``growth``: the ``growth`` settings section (``max_area_change``, ``min_ssim``)."""
    from edge_app.alerts.verdicts import GrowthRule

    if growth is None:
        return GrowthRule()
    return GrowthRule(max_area_change=growth.max_area_change, min_ssim=growth.min_ssim)


RULES: dict[str, Callable[..., AlertRule | None]] = {
    "quality": lambda **_: QualityRule(),
    "protocol": _protocol,
    "growth": _growth,
}


def create_rules(names: list[str] | tuple[str, ...], **context: Any) -> list[AlertRule]:
    """Instantiate rules by name; an unknown name raises listing the valid ones.

    ``context`` carries what some rules need (the ``plate`` map, the IPP engine's
    ``calibration``, ``fdr`` and ``error_rate``); a rule that cannot work without something
    absent is left out with a logged reason.
    """
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ValueError(f"unknown alert rule(s) {unknown}; valid: {sorted(RULES)}")
    rules = [RULES[n](**context) for n in names]
    return [r for r in rules if r is not None]
