"""Well-level quality alerts, judged against the well's replicate group."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from edge_app.alerts.quality import QualityNorms, QualityRule
from edge_app.core.frames import FrameMeta
from edge_app.core.results import FrameResult, Quality

NOW = datetime(2026, 12, 2, tzinfo=UTC)
OK, DEBRIS, BORDER = (Quality.OK,), (Quality.SEVERAL_OBJECTS,), (Quality.TOUCHES_BORDER,)


@dataclass(frozen=True)
class _Protocol:
    labels: dict


def _expected(line: str) -> _Protocol:
    return _Protocol({"cell_line": line, "culture_medium": "DMEM",
                      "seeding_density": "5000", "formation_method": "ULA"})


def _frame(well: str, site: int, quality: tuple[Quality, ...], hours: float = 24.0):
    return FrameResult(
        meta=FrameMeta(uri=f"mem://{well}/{site}/{hours}", plate_id="P", well=well, site=site),
        sha="s", width=8, height=8, dtype="uint16", shape=None, quality=quality, focus=0.4,
        n_objects=1, segmenter="x", hours=hours, processed_at=NOW)


def _run(rule, frames):
    alerts = []
    for well, line, site, quality in frames:
        alerts += rule.evaluate(_frame(well, site, quality), _expected(line), NOW)
    return alerts


def test_a_lone_odd_frame_does_not_alert_a_persistent_issue_does():
    rule = QualityRule()
    frames = [(f"A{i}", "MCF7", s, OK) for i in range(1, 6) for s in range(2)]
    frames[3] = ("A2", "MCF7", 1, DEBRIS)  # one site of A2
    frames += [("A6", "MCF7", 0, DEBRIS), ("A6", "MCF7", 1, DEBRIS)]
    alerts = _run(rule, frames)
    assert [(a.well, a.kind, a.observed) for a in alerts] == [
        ("A6", "quality", "several_objects")]
    assert "2 of 2 frames" in alerts[0].message
    assert _run(rule, [("A6", "MCF7", 0, DEBRIS)]) == []  # once per well and issue


def test_an_issue_most_of_a_group_shares_is_one_notice():
    rule = QualityRule()
    frames = [(f"B{i}", "HCT116", s, BORDER) for i in range(1, 5) for s in range(2)]
    frames += [(f"C{i}", "MCF7", s, OK) for i in range(1, 4) for s in range(2)]
    frames += [("C4", "MCF7", s, DEBRIS) for s in range(2)]
    alerts = _run(rule, frames)
    notices = [a for a in alerts if a.kind == "notice"]
    assert len(notices) == 1 and notices[0].well is None
    assert "in 3 of 3 wells of HCT116 / DMEM" in notices[0].message  # when it became clear
    assert [(a.well, a.observed) for a in alerts if a.kind == "quality"] == [
        ("C4", "several_objects")]


def test_a_well_with_another_groups_look_is_left_to_the_protocol_evidence():
    norms = QualityNorms()
    rule = QualityRule(norms)
    frames = [(f"B{i}", "HCT116", s, BORDER) for i in range(1, 5) for s in range(2)]
    frames += [(f"C{i}", "MCF7", s, OK) for i in range(1, 4) for s in range(2)]
    swapped = [("C4", "MCF7", s, BORDER) for s in range(2)]  # looks like the HCT116 wells
    alerts = _run(rule, frames + swapped)
    assert [a.well for a in alerts if a.kind == "quality"] == []
    assert rule.conclude(NOW) == []
    assert norms.usable(_frame("C4", 0, BORDER), _expected("MCF7"))
    # one such frame in a well that does not have the issue is not evidence
    _run(rule, [("C5", "MCF7", 0, OK), ("C5", "MCF7", 1, OK), ("C5", "MCF7", 2, BORDER)])
    assert not norms.usable(_frame("C5", 2, BORDER), _expected("MCF7"))


def test_soft_issues_wait_for_the_plate_an_empty_well_does_not():
    @dataclass(frozen=True)
    class _Plate:
        wells: dict

    plate = _Plate({**{f"H{i}": _expected("A549") for i in range(1, 5)},
                    **{f"J{i}": _expected("MCF7") for i in range(1, 5)}})
    rule = QualityRule(QualityNorms(plate=plate))
    first = [(f"H{i}", "A549", s, OK) for i in range(1, 3) for s in range(2)]
    first += [("H3", "A549", s, DEBRIS) for s in range(2)]
    first += [("H4", "A549", s, (Quality.NO_SPHEROID,)) for s in range(2)]
    assert [(a.well, a.observed) for a in _run(rule, first)] == [("H4", "no_spheroid")]
    rest = [(f"J{i}", "MCF7", s, OK) for i in range(1, 5) for s in range(2)]
    assert [(a.well, a.observed) for a in _run(rule, rest)] == [("H3", "several_objects")]


def test_norm_frames_stay_usable_for_protocol_evidence_faults_do_not():
    norms = QualityNorms()
    rule = QualityRule(norms)
    frames = [(f"B{i}", "HCT116", s, BORDER) for i in range(1, 5) for s in range(2)]
    _run(rule, frames)
    usual = _frame("B1", 0, BORDER)
    assert norms.usable(usual, _expected("HCT116"))
    empty = replace(usual, quality=(Quality.NO_SPHEROID,))
    assert not norms.usable(empty, _expected("HCT116"))
    _run(rule, [("C1", "MCF7", 0, OK), ("C2", "MCF7", 0, OK), ("C3", "MCF7", 0, BORDER)])
    assert not norms.usable(_frame("C3", 0, BORDER), _expected("MCF7"))


def test_alerts_wait_until_the_group_was_seen_then_catch_the_odd_well():
    rule = QualityRule()
    first = _run(rule, [("D1", "A549", s, DEBRIS) for s in range(2)])
    assert first == []  # 1 of its group's wells seen: a norm or a fault?
    later = _run(rule, [(f"D{i}", "A549", s, OK) for i in (2, 3) for s in range(2)])
    assert [(a.well, a.observed) for a in later] == [("D1", "several_objects")]


def test_persist_one_alerts_on_a_single_frame():
    rule = QualityRule(QualityNorms(persist=1))
    frames = [(f"E{i}", "A549", 0, OK) for i in range(1, 4)] + [("E4", "A549", 0, DEBRIS)]
    assert [a.well for a in _run(rule, frames)] == ["E4"]


def test_with_a_plate_map_the_whole_group_is_seen_before_anyone_alerts():
    @dataclass(frozen=True)
    class _Plate:
        wells: dict

    plate = _Plate({f"G{i}": _expected("SKOV3") for i in range(1, 9)})
    rule = QualityRule(QualityNorms(plate=plate))
    first = [(f"G{i}", "SKOV3", s, OK) for i in range(2, 6) for s in range(2)]
    first = [("G1", "SKOV3", s, BORDER) for s in range(2)] + first  # the first well is odd
    assert _run(rule, first) == []  # 5 of 8 wells seen: the group may share it
    rest = [(f"G{i}", "SKOV3", s, BORDER if i in (7, 8) else OK) for i in (6, 7, 8)
            for s in range(2)]
    alerts = _run(rule, rest)
    assert [a.kind for a in alerts] == ["notice"]  # 3 of 8 share it: how these wells look
    assert "(G1, G7–G8)" in alerts[0].message


def test_the_end_of_a_run_reports_wells_imaged_too_few_times():
    rule = QualityRule()
    frames = [("H1", "MCF7", 0, (Quality.NO_SPHEROID,)), ("H2", "MCF7", 0, OK),
              ("H3", "MCF7", 0, OK), ("H4", "MCF7", 0, OK), ("H4", "MCF7", 1, DEBRIS)]
    assert _run(rule, frames) == []  # one frame each: persist 2 is not reached
    alerts = rule.conclude(NOW)
    # H1's only frame is empty: reported; H4 has 1 odd frame of 2: not
    assert [(a.well, a.observed) for a in alerts] == [("H1", "no_spheroid")]
    assert "1 of 1 frames" in alerts[0].message
    assert rule.conclude(NOW) == []


def test_after_a_notice_the_groups_wells_do_not_alert_for_that_issue():
    """Wells imaged once each share "no spheroid": a notice. Their second frames are fine,
    except K4's: the share falls below the norm, but K4 is not alerted after the notice."""
    rule = QualityRule()
    empty = (Quality.NO_SPHEROID,)
    first = [(f"K{i}", "A549", 0, empty if i <= 2 else OK) for i in range(1, 7)]
    first.append(("K4", "A549", 0, empty))
    notices = _run(rule, first)
    assert [a.kind for a in notices] == ["notice"]
    second = [(f"K{i}", "A549", 1, empty if i == 4 else OK) for i in range(1, 7)]
    assert [a for a in _run(rule, second) if a.kind == "quality"] == []
    assert rule.conclude(NOW) == []
