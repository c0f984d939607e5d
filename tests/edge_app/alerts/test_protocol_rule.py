"""ProtocolEvidenceRule end to end on simulated streams, with fakes for the IPP engine."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from edge_app.alerts.benchmark import simulated_plate, simulated_stream, time_protocol_rule
from edge_app.alerts.conformal import IPPCalibration
from edge_app.alerts.notices import OOD_MESSAGE
from edge_app.alerts.protocol import ProtocolEvidenceRule
from edge_app.core.results import Quality

NOW = datetime(2026, 12, 2, tzinfo=UTC)
CELL_LINES = ("HCT116", "NCIH460", "SKOV3", "MCF7")


def _run(rule, plate, results):
    alerts = []
    for result in results:
        alerts += rule.evaluate(result, plate.expected(result.meta.well), NOW)
    return alerts


def test_a_swapped_cell_line_alerts_once_with_evidence():
    plate = simulated_plate(96)
    assert plate.wells["B3"].labels["cell_line"] == "HCT116"
    truth = {"B3": {"cell_line": "MCF7", "seeding_density": "10000"}}
    rule = ProtocolEvidenceRule(plate=plate, fdr=0.05)
    alerts = _run(rule, plate, simulated_stream(plate, seed=3, truth=truth))
    protocol = [a for a in alerts if a.kind == "protocol"]
    assert [a.well for a in protocol] == ["B3"]
    alert = protocol[0]
    assert alert.expected == plate.wells["B3"].labels[alert.label]
    assert alert.message.startswith(f"B3 {alert.label.replace('_', ' ')}: looks like the ")
    assert "plate map says" in alert.message and "(replicate)" in alert.message
    evidence = alert.evidence
    assert set(evidence) >= {"e_value", "n_frames", "sources", "looks_like", "own_group",
                             "frames"}
    assert evidence["sources"] == ["replicate"] and evidence["e_value"] >= 96 / 0.05 / 2
    assert "B3" not in evidence["own_group"] and "B4" in evidence["own_group"]
    assert alert.observed is None  # "looks like" is not a claim of what the well holds
    assert evidence["looks_like"]["value"] in alert.message
    frame = evidence["frames"][0]
    assert set(frame) == {"frame_id", "uri", "p_replicate", "p_ipp", "e"}
    json.dumps(evidence)  # what the store writes


@pytest.mark.parametrize("seed", range(3))
def test_clean_plates_stay_quiet(seed):
    plate = simulated_plate(96)
    rule = ProtocolEvidenceRule(plate=plate)
    assert _run(rule, plate, simulated_stream(plate, seed=100 + seed)) == []


def test_an_invisible_label_never_alerts():
    plate = simulated_plate(96)
    media = {w: {"culture_medium": "RPMI" if p.labels["culture_medium"] == "DMEMLG"
                 else "DMEMLG"} for w, p in list(plate.wells.items())[::7]}
    rule = ProtocolEvidenceRule(plate=plate)
    assert _run(rule, plate, simulated_stream(plate, seed=7, truth=media)) == []


def test_unusable_frames_do_not_count_and_a_mostly_unfit_well_leaves():
    plate = simulated_plate(96)
    truth = {"B3": {"cell_line": "MCF7", "seeding_density": "10000"}}
    unfit = [replace(r, quality=(Quality.OUT_OF_FOCUS,)) if r.meta.well == "B3" else r
             for r in simulated_stream(plate, seed=3, truth=truth)]
    rule = ProtocolEvidenceRule(plate=plate)
    assert _run(rule, plate, unfit) == []
    assert "B3" in rule._plates["bench"].evidence.quality_wells


class _Head:
    def __init__(self, name, labels):
        self.name, self.labels, self.ordinal = name, labels, False


def _calibration():
    # 99 calibration frames per class, scores spread evenly: p of a class = rank among them
    scores = {c: tuple(i / 100 for i in range(1, 100)) for c in CELL_LINES}
    return IPPCalibration(scores={"cell_line": scores})


def _with_ipp(results, plate, *, says=None, in_domain=True):
    """Attach IPP probabilities: the plate map's cell line at 0.9, or ``says`` at 0.99."""
    for result in results:
        want = plate.expected(result.meta.well).labels["cell_line"]
        top = (says or {}).get(plate.expected(result.meta.well).labels["cell_line"], want)
        probs = {c: (0.99 if c == top else 0.0033) for c in CELL_LINES}
        yield replace(result, predictions={"cell_line": probs}, in_domain=in_domain,
                      ood_score=1.0 if in_domain else 50.0)


def test_calibration_p_value_is_the_rank_among_calibration_scores():
    cal = _calibration()
    assert cal.p_value("cell_line", "MCF7", {"MCF7": 0.99}) == pytest.approx(1.0)
    assert cal.p_value("cell_line", "MCF7", {"MCF7": 0.0}) == pytest.approx(1 / 100)
    # score 0.5: 50 calibration scores are >= it (ties count): (1 + 50) / (99 + 1)
    assert cal.p_value("cell_line", "mcf-7", {"MCF7": 0.5}) == pytest.approx(51 / 100)
    assert cal.p_value("cell_line", "A549", {"MCF7": 0.5}) is None  # not a class of the head
    assert cal.p_value("medium", "RPMI", {"RPMI": 0.5}) is None  # no such head


def test_ipp_evidence_joins_replicate_evidence_when_in_domain():
    plate = simulated_plate(96)
    truth = {"B3": {"cell_line": "MCF7", "seeding_density": "10000"}}
    stream = _with_ipp(simulated_stream(plate, seed=3, truth=truth), plate)
    rule = ProtocolEvidenceRule(plate=plate, calibration=_calibration())
    alerts = _run(rule, plate, stream)
    assert [a.well for a in alerts if a.kind == "protocol"] == ["B3"]
    assert [a for a in alerts if a.kind == "notice"] == []


def test_out_of_domain_plate_gets_one_notice_and_no_absolute_evidence():
    plate = simulated_plate(96)
    stream = _with_ipp(simulated_stream(plate, seed=4), plate, says={"HCT116": "MCF7"},
                       in_domain=False)
    rule = ProtocolEvidenceRule(plate=plate, calibration=_calibration())
    alerts = _run(rule, plate, stream)
    notices = [a for a in alerts if a.kind == "notice"]
    assert [n.message for n in notices] == [OOD_MESSAGE]
    assert notices[0].well is None
    assert [a for a in alerts if a.kind == "protocol"] == []


def test_engine_disagreeing_with_a_whole_condition_is_one_notice():
    plate = simulated_plate(96)
    # the engine calls every HCT116 well MCF7, in domain: a systematic disagreement
    stream = _with_ipp(simulated_stream(plate, seed=5), plate, says={"HCT116": "MCF7"})
    rule = ProtocolEvidenceRule(plate=plate, calibration=_calibration(), error_rate=0.05)
    alerts = _run(rule, plate, stream)
    notices = [a for a in alerts if a.kind == "notice"]
    assert len(notices) == 1
    assert notices[0].label == "cell_line" and notices[0].expected == "HCT116"
    assert "it sees MCF7" in notices[0].message and notices[0].well is None
    assert [a for a in alerts if a.kind == "protocol"] == []


def test_per_frame_cost_at_96_wells():
    timing = time_protocol_rule(96)
    assert timing.frames == 96 * 2 * 3
    assert timing.median_ms < 25.0  # the bar is 5 ms on a quiet PC; shared CI gets slack


@pytest.mark.parametrize("label, value", [("cell_line", "MCF7"), ("cell_line", "NCIH460"),
                                          ("seeding_density", "5000"),
                                          ("formation_method", "LiquidOverlay-Agarose")])
def test_the_alert_names_the_single_change_that_explains_the_well(label, value):
    """B3 (HCT116 / DMEMLG / 2000 / ULA) holds one other value; every label of the plate
    is visible, several look alike in part: the alert names the label that was changed."""
    plate = simulated_plate(96)
    assert plate.wells["B3"].labels[label] != value
    rule = ProtocolEvidenceRule(plate=plate, fdr=0.05)
    truth = {"B3": {label: value}}
    alerts = _run(rule, plate, simulated_stream(plate, seed=5, truth=truth, invisible=()))
    protocol = [a for a in alerts if a.kind == "protocol"]
    assert [(a.well, a.label) for a in protocol] == [("B3", label)]
    assert f"looks like the {value} wells" in protocol[0].message


def test_a_well_with_another_groups_look_is_judged_by_its_replicates():
    """B3 holds what the G wells hold, and like them touches the border. Its first frames
    come before the G wells make that their norm; they count once it is (persist 2 needs
    both time points), and the alert is the protocol's, not a quality fault."""
    from edge_app.alerts.quality import QualityNorms, QualityRule

    plate = simulated_plate(96)
    truth = {"B3": {"cell_line": "MCF7", "seeding_density": "10000"}}
    assert plate.wells["G1"].labels["cell_line"] == "MCF7"
    stream = [replace(r, quality=(Quality.TOUCHES_BORDER,))
              if r.meta.well == "B3" or r.meta.well.startswith("G") else r
              for r in simulated_stream(plate, seed=3, truth=truth, timepoints=2)]
    norms = QualityNorms(plate=plate)
    rules = [QualityRule(norms), ProtocolEvidenceRule(plate=plate, norms=norms, persist=2)]
    alerts = [a for r in stream for rule in rules
              for a in rule.evaluate(r, plate.expected(r.meta.well), NOW)]
    assert [(a.kind, a.well) for a in alerts if a.well] == [("protocol", "B3")]
    assert [a.observed for a in alerts if a.kind == "notice"] == ["touches_border"]
