"""The pipeline with real engine bundles (tiny, untrained): predictions, forecasts, events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.sources.sim.replay import ReplaySource
from edge_app.store import StoreWriter
from engines.runtimes.select import EngineEvent
from tests.engines.tiny_bundles import ipp_bundle, nextframe_bundle, segmentation_bundle
from tests.support import make_frame

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    segmentation_bundle(root / "seg")
    ipp_bundle(root / "ipp")
    nextframe_bundle(root / "next")
    return root


def _settings(bundles, backend="engine", **engines):
    return load_settings(
        None,
        segmentation={"backend": backend, "bundle": bundles / "seg", "runtime": "onnx"},
        engines={"ipp": str(bundles / "ipp"), "forecast": str(bundles / "next"),
                 "runtime": "onnx", **engines},
    )


def test_engines_fill_predictions_and_forecasts(tmp_path, bundles, no_thread_leak):
    frames = [make_frame(w, hours=h, seed=i) for i, (w, h) in
              enumerate([("A1", 24.0), ("A2", 24.0), ("A1", 48.0), ("A1", 72.0)])]
    writer = StoreWriter(tmp_path / "s.sqlite")
    # The classical segmenter finds the drawn disc every time, so the forecasts are certain.
    pipeline = build_pipeline(_settings(bundles, backend="classical"), writer,
                              source=ReplaySource(frames), clock=lambda: NOW)
    assert [r.name for r in pipeline.rules] == ["quality", "protocol", "growth"]
    with pipeline:
        assert pipeline.wait(timeout=60)
    rows = writer.call(lambda s: list(s.db.query(
        "select f.well, f.hours, r.predictions, r.forecast_area_ratio, r.forecast_ssim, "
        "r.timings from frames f join results r on r.frame_id = f.id order by f.hours, f.well")))
    writer.close()
    assert len(rows) == 4
    for row in rows:
        heads = json.loads(row["predictions"])
        assert set(heads) == {"cell_line", "seeding_density"}
        assert sum(heads["cell_line"].values()) == pytest.approx(1.0, abs=1e-5)
        assert {"segment", "ipp", "forecast"} <= set(json.loads(row["timings"]))
    by_visit = {(r["well"], r["hours"]): r for r in rows}
    assert by_visit[("A1", 24.0)]["forecast_area_ratio"] is None  # nothing to forecast from
    assert by_visit[("A2", 24.0)]["forecast_area_ratio"] is None
    second, third = by_visit[("A1", 48.0)], by_visit[("A1", 72.0)]
    assert second["forecast_area_ratio"] is None  # one earlier visit: no growth rate yet
    assert third["forecast_area_ratio"] == pytest.approx(1.0, abs=0.3)  # same-size discs
    assert -1.0 <= third["forecast_ssim"] <= 1.0


def test_engine_segmenter_is_wired(tmp_path, bundles):
    writer = StoreWriter(tmp_path / "s.sqlite")
    pipeline = build_pipeline(_settings(bundles), writer, source=ReplaySource([]))
    assert pipeline.analyser.segmenter.name == "tiny_seg"
    writer.close()


def test_stages_can_be_switched_off(tmp_path, bundles):
    writer = StoreWriter(tmp_path / "s.sqlite")
    pipeline = build_pipeline(_settings(bundles, ipp="off", forecast="off"), writer,
                              source=ReplaySource([]))
    assert pipeline.analyser.ipp is None and pipeline.analyser.history.forecaster is None
    # protocol alerts stay on without an IPP engine: replicate evidence needs none
    assert [r.name for r in pipeline.rules] == ["quality", "protocol", "growth"]
    assert pipeline.rules[1].calibration is None
    writer.close()


def test_engine_event_becomes_a_stored_alert(tmp_path, bundles):
    writer = StoreWriter(tmp_path / "s.sqlite")
    pipeline = build_pipeline(_settings(bundles), writer, source=ReplaySource([]),
                              clock=lambda: NOW)
    raised = []
    pipeline.events.alert_raised.connect(raised.append)
    pipeline.report_engine_event(EngineEvent("tiny_seg", "fallback",
                                             "TensorRT failed; now on ONNX Runtime", NOW))
    writer.call(lambda s: None)
    alerts = writer.reader().alerts()
    writer.close()
    assert [(a["kind"], a["label"]) for a in alerts] == [("engine", "fallback")]
    assert "ONNX Runtime" in raised[0].message


def test_ipp_runs_only_on_usable_frames(tmp_path, bundles):
    frames = [make_frame("A1", seed=1), make_frame("B1", seed=2, empty=True)]
    writer = StoreWriter(tmp_path / "s.sqlite")
    pipeline = build_pipeline(_settings(bundles, backend="classical"), writer,
                              source=ReplaySource(frames), clock=lambda: NOW)
    with pipeline:
        assert pipeline.wait(timeout=60)
    rows = dict(writer.call(lambda s: s.db.execute(
        "select f.well, r.predictions from frames f join results r on r.frame_id = f.id"
    ).fetchall()))
    writer.close()
    assert rows["A1"] is not None and rows["B1"] is None  # empty well: no IPP call
