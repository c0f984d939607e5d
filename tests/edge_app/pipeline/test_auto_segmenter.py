"""``segmentation.backend = auto`` runs whichever segmenter did better on the real-image check
that ships with the bundle (the classical one beats the shipped engine: 45 vs 41 crops)."""

from __future__ import annotations

import pytest

from edge_app.pipeline.compose import SEGMENTERS
from edge_app.settings import load_settings
from engines.bundle import default_bundle, read_manifest, write_manifest
from engines.realdata import auto_segmenter_choice, better_segmenter
from tests.engines.tiny_bundles import segmentation_bundle

CHECK = {"real/crops": 50.0, "real/engine_plausible_crops": 41.0,
         "real/classical_plausible_crops": 45.0, "real/engine_goat_mean_dice": 0.54,
         "real/classical_goat_mean_dice": 0.65}


def test_better_segmenter_by_crops_then_dice():
    assert better_segmenter(CHECK)[0] == "classical"
    assert better_segmenter({**CHECK, "real/engine_plausible_crops": 47.0})[0] == "engine"
    tie = {**CHECK, "real/engine_plausible_crops": 45.0}
    assert better_segmenter(tie)[0] == "classical"  # the engine must beat classical
    assert better_segmenter({**tie, "real/engine_goat_mean_dice": 0.70})[0] == "engine"
    assert better_segmenter({"test/dice": 0.98}) == (None, "the bundle carries no real-image "
                                                           "check")


def test_the_shipped_bundle_carries_its_check_and_auto_picks_classical():
    shipped = default_bundle("segmentation")
    if shipped is None:
        pytest.skip("no shipped segmentation bundle")
    metrics = read_manifest(shipped).metrics
    assert metrics["real/classical_plausible_crops"] > metrics["real/engine_plausible_crops"]
    assert auto_segmenter_choice(shipped)[0] == "classical"
    settings = load_settings(None, segmentation={"backend": "auto", "runtime": "onnx"})
    assert SEGMENTERS["auto"](settings).name == "classical"


@pytest.mark.parametrize(("engine_crops", "expected"), [(None, "tiny_seg"), (47.0, "tiny_seg"),
                                                        (41.0, "classical")])
def test_auto_on_a_given_bundle(tmp_path, engine_crops, expected):
    bundle = segmentation_bundle(tmp_path / "seg")
    if engine_crops is not None:
        manifest = read_manifest(bundle.path)
        write_manifest(bundle.path, manifest.model_copy(update={"metrics": {
            **CHECK, "real/engine_plausible_crops": engine_crops}}))
    settings = load_settings(None, segmentation={"backend": "auto", "bundle": bundle.path,
                                                 "runtime": "onnx"})
    segmenter = SEGMENTERS["auto"](settings)
    try:
        assert segmenter.name == expected
    finally:
        if hasattr(segmenter, "close"):
            segmenter.close()
