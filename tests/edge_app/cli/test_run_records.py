"""``engine_runs`` says what ran: runtime, bundle name and bundle hash of every engine."""

from __future__ import annotations

import json

import pytest

from edge_app.cli.runs import run_live
from edge_app.settings import load_settings
from edge_app.sources.sim.replay import ReplaySource
from edge_app.store import Store
from tests.support import make_frame

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    """Zoo models (tiny, untrained) exported as real bundles: both runtimes can load them."""
    from engines.export import export_untrained

    root = tmp_path_factory.mktemp("bundles")
    return {"seg": export_untrained("test_unet", root / "seg"),
            "ipp": export_untrained("test_convnext_tiny_ipp", root / "ipp")}


def _run(tmp_path, **sections) -> dict:
    settings = load_settings(None, source={"once": True}, **sections)
    frames = [make_frame("A1", seed=1), make_frame("A2", seed=2)]
    run_live(settings, tmp_path / "s.sqlite", None, source=ReplaySource(frames), quiet=True)
    store = Store(tmp_path / "s.sqlite", readonly=True)
    try:
        rows = list(store.db.query("select runtime, engines, frames from engine_runs"))
    finally:
        store.close()
    assert len(rows) == 1 and rows[0]["frames"] == 2
    return {"runtime": rows[0]["runtime"], "engines": json.loads(rows[0]["engines"])}


def test_classical_run_names_the_classical_segmenter(tmp_path):
    run = _run(tmp_path, segmentation={"backend": "classical"}, engines={"ipp": "off",
                                                                         "forecast": "off"})
    assert run == {"runtime": "cpu", "engines": {"segmentation": {
        "name": "classical", "bundle": None, "hash": None, "runtime": "cpu"}}}


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_engine_run_names_runtime_bundle_and_hash(tmp_path, bundles, runtime):
    run = _run(tmp_path,
               segmentation={"backend": "engine", "bundle": bundles["seg"].path,
                             "runtime": runtime},
               engines={"ipp": str(bundles["ipp"].path), "forecast": "off", "runtime": runtime})
    assert run["runtime"] == runtime
    assert set(run["engines"]) == {"segmentation", "ipp"}
    for stage, key in (("segmentation", "seg"), ("ipp", "ipp")):
        assert run["engines"][stage] == {
            "name": bundles[key].manifest.architecture, "bundle": key,
            "hash": bundles[key].digest, "runtime": runtime}
