"""The strict scorer on a hand-made store: only the right well, kind, label and value catch."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edge_app.bench.scoring import catches, same_value, score_database
from edge_app.bench.summary import failed_thresholds, markdown, parse_thresholds, summarise
from edge_app.core.frames import FrameMeta
from edge_app.core.results import Alert, FrameResult, Quality, Severity
from edge_app.simulation.deviations import Deviation
from edge_app.store import Store
from engines.morphometry import ShapeDescriptors

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
PLATE = "P1"
WELLS = ("A1", "A2", "A3", "A4", "A5", "A6", "B1", "B2", "B3", "B4")
DEVIATIONS = (
    Deviation(PLATE, "A1", "swapped_cell_line", "cell_line", "HCT116", "MCF7"),
    Deviation(PLATE, "A2", "wrong_medium", "culture_medium", "RPMI", "DMEMLG"),
    Deviation(PLATE, "A3", "wrong_density", "seeding_density", "2000", "10000"),
    Deviation(PLATE, "A4", "empty_well", "", "", ""),
    Deviation(PLATE, "A5", "debris", "", "", ""),
    Deviation(PLATE, "A6", "out_of_focus", "", "", ""),
)


def _frame(well: str, t: int) -> FrameResult:
    meta = FrameMeta(uri=f"/acq/{PLATE}_{well}_s0_t{t}.tif", plate_id=PLATE, well=well, site=0,
                     extra={"size": 100, "mtime_ns": t})
    shape = ShapeDescriptors(1000.0, 120.0, 0.3, 0.95, 0.75, 35.7, 40.0, 33.0, 0.87)
    return FrameResult(meta=meta, sha=f"{well}{t}", width=64, height=64, dtype="uint16",
                       shape=shape, quality=(Quality.OK,), focus=1.0, n_objects=1,
                       segmenter="classical", hours=24.0 * (t + 1), processed_at=NOW)


def _alert(well: str, kind: str, label: str | None = None, expected: str | None = None,
           observed: str | None = None, plate: str | None = PLATE) -> Alert:
    return Alert(kind=kind, severity=Severity.CRITICAL, message=f"{well}: {kind}", uri="",
                 plate_id=plate, well=well, raised_at=NOW, label=label, expected=expected,
                 observed=observed)


#: (time point, well) -> alerts stored with that frame.
ALERTS = {
    # A1: wrong label, wrong value, then the right one (caught on its 2nd frame).
    (0, "A1"): [_alert("A1", "protocol", "culture_medium", "RPMI", "DMEMLG"),
                _alert("A1", "protocol", "cell_line", "HCT116", "A549")],
    (1, "A1"): [_alert("A1", "protocol", "cell_line", "hct-116", "MCF7")],
    # A2: the right alert but in another plate's well of the same name: not caught.
    (0, "A2"): [_alert("A2", "protocol", "culture_medium", "RPMI", "DMEMLG", plate="P2")],
    # A3: the label only, naming no value: not caught (and a false alert).
    (2, "A3"): [_alert("A3", "protocol", "seeding_density")],
    # A4 empty: caught by no_spheroid; its several_objects alert is an extra (false).
    (0, "A4"): [_alert("A4", "quality", observed="no_spheroid"),
                _alert("A4", "quality", observed="several_objects")],
    # A5 debris: a quality alert of the wrong issue is not a catch.
    (0, "A5"): [_alert("A5", "quality", observed="out_of_focus")],
    # A6 out of focus: the right issue, but in the neighbouring well.
    (1, "B1"): [_alert("B1", "quality", observed="out_of_focus")],
    # A clean well with a protocol alert, and a growth alert elsewhere.
    (2, "B2"): [_alert("B2", "protocol", "cell_line", "HCT116", "MCF7"),
                _alert("B3", "growth", "growth", "forecast", "area x2")],
}


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "run.sqlite"
    store = Store(path)
    for t in range(3):
        for well in WELLS:
            store.record_result(_frame(well, t), ALERTS.get((t, well), []))
    store.record_alert(_alert("", "notice", plate=PLATE))
    store.record_alert(_alert("", "engine", plate=None))
    store.close()
    return path


def test_only_the_right_well_kind_label_and_value_catch(store_path):
    score = score_database(store_path, DEVIATIONS, PLATE, WELLS)
    caught = {o.deviation.well: o.caught for o in score.outcomes}
    assert caught == {"A1": True, "A2": False, "A3": False, "A4": True, "A5": False,
                      "A6": False}
    first = next(o for o in score.outcomes if o.deviation.well == "A1")
    assert first.frames_to_alert == 2 and first.well_frames == 3
    assert first.latency_s == 0.0  # stored with the frame that completed the evidence
    false = sorted((a.well, a.kind, a.label or a.observed) for a in score.false_alerts)
    assert false == [("A1", "protocol", "cell_line"), ("A1", "protocol", "culture_medium"),
                     ("A3", "protocol", "seeding_density"), ("A4", "quality", "several_objects"),
                     ("A5", "quality", "out_of_focus"), ("B1", "quality", "out_of_focus"),
                     ("B2", "protocol", "cell_line"), ("B3", "growth", "growth")]
    assert score.false_wells("protocol") == {"A1", "A3", "B2"}
    assert score.false_wells("quality") == {"A4", "A5", "B1"}
    assert score.false_wells("other") == {"B3"}
    assert len(score.notices) == 1 and score.operational_alerts == 1


def test_summary_rates_and_thresholds(store_path):
    summary = summarise([score_database(store_path, DEVIATIONS, PLATE, WELLS)],
                        {(PLATE, "A1"): 0.97, (PLATE, "A2"): 0.6})
    assert summary.recall("swapped_cell_line") == 1.0
    assert summary.recall("wrong_medium", "faint") == 0.0
    assert summary.recall("quality") == pytest.approx(1 / 3)
    assert summary.false_wells_per_plate["protocol"] == 3
    assert summary.plates_with_false == {"protocol": 1, "quality": 1, "other": 1}
    assert summary.false_alerts_per_clean_well["quality"] == pytest.approx(1 / 4)  # B1 of 4
    assert summary.false_alerts_per_well_frame["protocol"] == pytest.approx(4 / 30)
    table = markdown(summary)
    assert "| swapped_cell_line | visible | 1 | 1 | 1.00 |" in table
    assert "| wrong_medium | faint | 1 | 0 | 0.00 |" in table
    misses = failed_thresholds(summary, parse_thresholds(["swapped_cell_line=0.95",
                                                           "empty_well=1", "debris=0.8"]),
                               max_false_wells=1, max_false_rate=0.1)
    assert [m.split()[2] for m in misses[:1]] == ["debris"]
    assert any("protocol false-alert wells per plate 3.00 > 1.00" in m for m in misses)
    assert any("false alerts per clean well" in m for m in misses)
    assert failed_thresholds(summary, {"swapped_cell_line": 0.95, "empty_well": 1.0}) == []
    with pytest.raises(ValueError, match="KIND=VALUE"):
        parse_thresholds(["cellline=1"])


def test_values_compare_by_spelling_and_number():
    assert same_value("HCT-116", "hct116") and same_value("2000", "2000.0")
    assert not same_value("2000", "20000") and not same_value("", "")
    dev = DEVIATIONS[0]
    from edge_app.bench.scoring import StoredAlert

    def alert(**kw):
        base = dict(id=1, frame_id=None, plate_id=PLATE, well="A1", kind="protocol",
                    label="cell_line", expected="", observed="", message="", at=0.0)
        return StoredAlert(**{**base, **kw})

    assert catches(alert(observed="MCF7"), dev)
    assert catches(alert(expected="HCT116"), dev)
    assert not catches(alert(expected="HCT116", observed="A549"), dev)
    assert not catches(alert(), dev)
    assert not catches(alert(kind="quality", observed="MCF7"), dev)
