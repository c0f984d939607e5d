"""Growth alerts, ordinal tolerance, and the rule registry."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from edge_app.alerts.rules import create_rules
from edge_app.alerts.verdicts import GrowthRule, OrdinalTolerance, agrees
from edge_app.core.frames import FrameMeta
from edge_app.core.results import Forecast, FrameResult, Quality

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _result(predictions, *, hours=24.0, quality=(Quality.OK,), forecast=None, well="A1"):
    return FrameResult(
        meta=FrameMeta(uri=f"mem://{well}/{hours}", plate_id="P", well=well), sha="s",
        width=8, height=8, dtype="uint16", shape=None, quality=quality, focus=0.4,
        n_objects=1, segmenter="x", hours=hours, processed_at=NOW, predictions=predictions,
        forecast=forecast,
    )


def test_ordinal_agreement_uses_tolerance_in_units():
    tol = OrdinalTolerance(density_fold=1.5, hours=12)
    assert agrees("seeding_density", "2000", {"2500"}, tol, ordinal=True)
    assert not agrees("seeding_density", "2000", {"5000"}, tol, ordinal=True)
    assert agrees("timepoint", "30", {"24"}, tol, ordinal=True)
    assert not agrees("timepoint", "72", {"48"}, tol, ordinal=True)
    assert agrees("cell_line", "hct-116", {"HCT116"}, tol, ordinal=False)


def test_growth_rule_flags_area_or_appearance():
    rule = GrowthRule(max_area_change=0.35, min_ssim=0.5)
    fine = _result(None, forecast=Forecast(area_ratio=1.1, ssim=0.8))
    assert rule.evaluate(fine, None, NOW) == []
    shrunk = replace(fine, forecast=Forecast(area_ratio=0.5, ssim=0.8))
    assert "0.50x the forecast" in rule.evaluate(shrunk, None, NOW)[0].message
    odd = replace(fine, forecast=Forecast(area_ratio=1.0, ssim=0.2))
    assert "SSIM 0.20" in rule.evaluate(odd, None, NOW)[0].message


def test_registry_builds_rules_protocol_works_without_engine(caplog):
    caplog.set_level(logging.INFO, logger="edge_app.alerts.rules")  # CLI tests change root
    assert [r.name for r in create_rules(["quality", "growth"])] == ["quality", "growth"]
    assert [r.name for r in create_rules(["quality", "protocol"])] == ["quality", "protocol"]
    assert "replicate evidence only" in caplog.text
    with pytest.raises(ValueError, match="valid: \\['growth', 'protocol', 'quality'\\]"):
        create_rules(["nope"])
