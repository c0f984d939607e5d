"""Protocol verdicts (conformal sets, persistence, ordinal tolerance) and growth alerts."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from edge_app.alerts.rules import create_rules
from edge_app.alerts.verdicts import (
    GrowthRule,
    HeadCalibration,
    OrdinalTolerance,
    ProtocolVerdictRule,
    agrees,
    prediction_set,
)
from edge_app.core.frames import FrameMeta
from edge_app.core.plate import WellProtocol
from edge_app.core.results import Forecast, FrameResult, Quality

NOW = datetime(2026, 11, 29, tzinfo=UTC)
HEADS = {
    "cell_line": HeadCalibration(("HCT116", "MCF7", "A549"), qhat=0.9),
    "seeding_density": HeadCalibration(("1000", "2000", "5000", "10000"), qhat=0.9, ordinal=True),
    "timepoint": HeadCalibration(("24", "48", "96"), qhat=0.9, ordinal=True),
    "microscope": HeadCalibration(("OperaPhenix", "Cytation5"), qhat=0.9),
}
EXPECTED = WellProtocol("A1", {"cell_line": "HCT116", "seeding_density": "2000",
                               "microscope": "OperaPhenix"}, None, {})


def _result(predictions, *, hours=24.0, quality=(Quality.OK,), forecast=None, well="A1"):
    return FrameResult(
        meta=FrameMeta(uri=f"mem://{well}/{hours}", plate_id="P", well=well), sha="s",
        width=8, height=8, dtype="uint16", shape=None, quality=quality, focus=0.4,
        n_objects=1, segmenter="x", hours=hours, processed_at=NOW, predictions=predictions,
        forecast=forecast,
    )


def _preds(cell="HCT116", density="2000", time="24", scope="Cytation5", p=0.95):
    def head(top, classes):
        rest = (1 - p) / (len(classes) - 1)
        return {c: (p if c == top else rest) for c in classes}

    return {"cell_line": head(cell, HEADS["cell_line"].classes),
            "seeding_density": head(density, HEADS["seeding_density"].classes),
            "timepoint": head(time, HEADS["timepoint"].classes),
            "microscope": head(scope, HEADS["microscope"].classes)}


def test_prediction_set_threshold_and_never_empty():
    probs = {"a": 0.6, "b": 0.3, "c": 0.1}
    assert prediction_set(probs, qhat=0.75) == {"a", "b"}
    assert prediction_set(probs, qhat=0.1) == {"a"}  # nothing reaches 0.9: keep the top


def test_ordinal_agreement_uses_tolerance_in_units():
    tol = OrdinalTolerance(density_fold=1.5, hours=12)
    assert agrees("seeding_density", "2000", {"2500"}, tol, ordinal=True)
    assert not agrees("seeding_density", "2000", {"5000"}, tol, ordinal=True)
    assert agrees("timepoint", "30", {"24"}, tol, ordinal=True)
    assert not agrees("timepoint", "72", {"48"}, tol, ordinal=True)
    assert agrees("cell_line", "hct-116", {"HCT116"}, tol, ordinal=False)


def test_mismatch_must_persist_and_alerts_once():
    rule = ProtocolVerdictRule(heads=HEADS, persist=2)
    wrong = _preds(cell="MCF7")
    assert rule.evaluate(_result(wrong), EXPECTED, NOW) == []
    (alert,) = rule.evaluate(_result(_preds(cell="MCF7", time="48"), hours=48), EXPECTED, NOW)
    assert (alert.kind, alert.label, alert.expected, alert.observed) == (
        "protocol", "cell_line", "HCT116", "MCF7")
    later = _result(_preds(cell="MCF7", time="96"), hours=96)
    assert rule.evaluate(later, EXPECTED, NOW) == []  # alerted once


def test_agreement_resets_the_streak():
    rule = ProtocolVerdictRule(heads=HEADS, persist=2)
    rule.evaluate(_result(_preds(cell="MCF7")), EXPECTED, NOW)
    rule.evaluate(_result(_preds()), EXPECTED, NOW)
    assert rule.evaluate(_result(_preds(cell="MCF7")), EXPECTED, NOW) == []


def test_uncertain_prediction_keeps_expected_in_set_so_no_alert():
    rule = ProtocolVerdictRule(heads=HEADS, persist=1)
    unsure = _preds(cell="MCF7", p=0.5)  # HCT116 at 0.25 >= 1 - 0.9
    assert rule.evaluate(_result(unsure), EXPECTED, NOW) == []


def test_silent_labels_unusable_frames_and_timepoint_from_hours():
    rule = ProtocolVerdictRule(heads=HEADS, persist=1)
    assert rule.evaluate(_result(_preds(scope="Cytation5")), EXPECTED, NOW) == []
    blurred = _result(_preds(cell="MCF7"), quality=(Quality.OUT_OF_FOCUS,))
    assert rule.evaluate(blurred, EXPECTED, NOW) == []
    (late,) = rule.evaluate(_result(_preds(time="96"), hours=24.0), EXPECTED, NOW)
    assert (late.label, late.expected, late.observed) == ("timepoint", "24", "96")


def test_growth_rule_flags_area_or_appearance():
    rule = GrowthRule(max_area_change=0.35, min_ssim=0.5)
    fine = _result(None, forecast=Forecast(area_ratio=1.1, ssim=0.8))
    assert rule.evaluate(fine, None, NOW) == []
    shrunk = replace(fine, forecast=Forecast(area_ratio=0.5, ssim=0.8))
    assert "0.50x the forecast" in rule.evaluate(shrunk, None, NOW)[0].message
    odd = replace(fine, forecast=Forecast(area_ratio=1.0, ssim=0.2))
    assert "SSIM 0.20" in rule.evaluate(odd, None, NOW)[0].message


def test_registry_builds_rules_and_skips_protocol_without_engine(caplog):
    caplog.set_level(logging.WARNING, logger="edge_app.alerts.rules")  # CLI tests change root
    assert [r.name for r in create_rules(["quality", "growth"])] == ["quality", "growth"]
    assert [r.name for r in create_rules(["quality", "protocol"])] == ["quality"]
    assert "no IPP engine" in caplog.text
    assert [r.name for r in create_rules(["protocol"], heads=HEADS)] == ["protocol"]
    with pytest.raises(ValueError, match="valid: \\['growth', 'protocol', 'quality'\\]"):
        create_rules(["nope"])
