"""The ``AlertRule`` seam and the rule registry.

A rule sees each :class:`FrameResult` with the plate protocol and returns alerts. Rules keep
per-well state so a persistent condition alerts once, not on every frame.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from edge_app.core.results import Alert, FrameResult

log = logging.getLogger(__name__)

class AlertRule(Protocol):
    """``evaluate`` returns the alerts one frame raises (often none)."""

    name: str

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]: ...


def _quality(norms: Any = None, **_: Any) -> AlertRule:
    from edge_app.alerts.quality import QualityRule

    return QualityRule(norms) if norms is not None else QualityRule()


def _protocol(plate: Any = None, calibration: Any = None, fdr: float = 0.05,
              error_rate: float = 0.01, tolerance: Any = None, persist: int = 2,
              norms: Any = None, **_: Any) -> AlertRule | None:
    from edge_app.alerts.ordinal import OrdinalTolerance
    from edge_app.alerts.protocol import ProtocolEvidenceRule

    if calibration is None:
        log.info("protocol alerts: no IPP calibration scores; replicate evidence only")
    return ProtocolEvidenceRule(plate=plate, calibration=calibration, fdr=fdr,
                                error_rate=error_rate, persist=persist, norms=norms,
                                tolerance=tolerance or OrdinalTolerance())


def _growth(growth: Any = None, persist: int = 2, **_: Any) -> AlertRule:
    """``growth``: the ``growth`` settings section (``max_area_change``, ``min_ssim``)."""
    from edge_app.alerts.verdicts import GrowthRule

    if growth is None:
        return GrowthRule(persist=persist)
    return GrowthRule(max_area_change=growth.max_area_change, min_ssim=growth.min_ssim,
                      persist=persist)


RULES: dict[str, Callable[..., AlertRule | None]] = {
    "quality": _quality,
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
    if "quality" in names and "norms" not in context:
        from edge_app.alerts.quality import QualityNorms

        # one record of the wells' quality, read by the protocol rule too
        context["norms"] = QualityNorms(persist=int(context.get("quality_persist", 2)),
                                        plate=context.get("plate"))
    rules = [RULES[n](**context) for n in names]
    return [r for r in rules if r is not None]
