"""``sentinel watch``, ``sentinel predict``, ``sentinel bench`` and the GPU check's per-frame
path all run the app's FrameAnalyser: on the same frames they give the same results."""

from __future__ import annotations

import json

import pytest
import tifffile

from edge_app.bench.engine_speed import measure_engines
from edge_app.bench.folder_latency import _base_frame
from edge_app.bench.gpucheck import frame_path
from edge_app.cli.predict_run import Predictor
from edge_app.cli.runs import run_live
from edge_app.settings import load_settings
from edge_app.store import Store
from engines.bundle import default_bundle

pytest.importorskip("onnxruntime")
TASKS = ("segmentation", "ipp", "nextframe")
HOURS = (24, 48, 72)


@pytest.fixture(scope="module")
def installed():
    bundles = {t: default_bundle(t) for t in TASKS}
    if None in bundles.values():
        pytest.skip("the default engine bundles are not installed (engines/bundles)")
    return bundles


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Three visits of one well (rendered spheroid, fit for verdicts), distinct bytes."""
    import numpy as np

    folder = tmp_path_factory.mktemp("acq")
    base = _base_frame(512, 2)
    paths = []
    for i, hours in enumerate(HOURS):
        paths.append(folder / f"P1_A1_s0_t{hours}h.tif")
        tifffile.imwrite(paths[-1], base ^ np.uint16(i + 1))
    return paths


def _watch(tmp_path, folder):
    settings = load_settings(None, source={"folder": folder, "once": True, "settle_s": 0.05,
                                           "name_pattern": "plate-well-site-time"},
                             segmentation={"backend": "engine", "runtime": "onnx"},
                             engines={"runtime": "onnx"})
    run_live(settings, tmp_path / "w.sqlite", None, quiet=True)
    store = Store(tmp_path / "w.sqlite", readonly=True)
    try:
        rows = list(store.db.query(
            "select f.uri, r.* from frames f join results r on r.frame_id = f.id"))
    finally:
        store.close()
    return {r["uri"]: r for r in rows}


def _close(a, b, tol=1e-5):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    return abs(float(a) - float(b)) <= tol * max(1.0, abs(float(a)))


def test_watch_predict_bench_and_gpucheck_path_agree(tmp_path, installed, frames):
    predictor = Predictor(installed["segmentation"], installed["ipp"], "onnx", top=99)
    try:
        predicted = {str(p): predictor.analyse(p)[0] for p in frames}
    finally:
        predictor.close()
    assert all(r.usable and r.predictions for r in predicted.values())  # IPP ran on each

    benched = []
    report = measure_engines(len(frames), 512, bundles=installed, threads=1,
                             kinds=[("onnx", "cpu")], on_result=lambda _k, r: benched.append(r))
    assert report.runs[0].error is None and report.runs[0].ipp_frames == len(frames)
    checked = []
    frame_path(len(frames), 512, kinds=[("onnx", "cpu")], bundles=installed, threads=1,
               on_result=lambda _k, r: checked.append(r))
    watched = _watch(tmp_path, frames[0].parent)
    assert len(watched) == len(frames)

    # The bench and the GPU check render the same frames as this test (seed 2, 512 px).
    for i, path in enumerate(frames):
        reference = predicted[str(path)]
        row = watched[str(path)]
        assert row["segmenter"] == reference.segmenter
        assert _close(json.loads(row["predictions"]), reference.predictions)
        shape = reference.shape.as_dict()
        assert _close({k: row[k] for k in shape}, shape)
        for other in (benched[i], checked[i]):
            assert other.segmenter == reference.segmenter
            assert other.quality == reference.quality
            assert _close(other.shape.as_dict(), reference.shape.as_dict())
            assert _close(other.predictions, reference.predictions)
