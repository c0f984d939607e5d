"""Task engines on real exported bundles and ONNX Runtime: outputs the pipeline can use."""

from __future__ import annotations

import numpy as np
import pytest

from engines.bundle import BundleError
from engines.classical import ClassicalSegmenter, SegmentationOutput
from engines.morphometry import shape_descriptors
from engines.tasks import ForecastEngine, IPPEngine, SegmentationEngine, softmax
from tests.engines.tiny_bundles import (
    ipp_bundle,
    nextframe_bundle,
    nn,
    segmentation_bundle,
    torch,
)
from tests.support import drawn_spheroid


class DarkIsSpheroid(nn.Module):
    """logits = 20 * (0.5 - x): dark pixels of a normalised bright-field frame are object."""

    def forward(self, x):
        return 20.0 * (0.5 - x[:, :1])


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from engines.export import export_bundle

    root = tmp_path_factory.mktemp("engines")
    x = np.random.default_rng(0).uniform(size=(2, 3, 128, 128)).astype(np.float32)
    dark = export_bundle(DarkIsSpheroid(), "dark_is_spheroid", "segmentation", root / "dark",
                         sample_inputs={"image": x}, output_names=["logits"],
                         size=(128, 128), threshold=0.5)
    return {"dark": dark, "seg": segmentation_bundle(root / "seg"),
            "ipp": ipp_bundle(root / "ipp"), "next": nextframe_bundle(root / "next")}


def _loaded(engine):
    engine.load()
    engine.warmup()
    return engine


def test_segmentation_engine_matches_the_classical_segmenter_on_a_clear_spheroid(bundles):
    engine = _loaded(SegmentationEngine(bundles["dark"], "onnx", threads=1))
    frame = drawn_spheroid(size=512, radius=90, seed=3)
    seg = engine.segment(frame)
    classical = ClassicalSegmenter().segment(frame)
    engine.close()
    assert isinstance(seg, SegmentationOutput) and engine.name == "dark_is_spheroid"
    assert seg.found and seg.n_objects == 1 and not seg.touches_border
    assert seg.mask.shape == (128, 128) and seg.scale == pytest.approx(4.0)
    ours = shape_descriptors(seg.mask, seg.scale)
    theirs = shape_descriptors(classical.mask, classical.scale)
    assert ours.equivalent_diameter == pytest.approx(180, rel=0.06)
    assert ours.equivalent_diameter == pytest.approx(theirs.equivalent_diameter, rel=0.08)
    assert 0.0 < seg.focus <= 1.0


def test_segmentation_keeps_aspect_ratio_and_batches_like_singles(bundles):
    engine = _loaded(SegmentationEngine(bundles["dark"], "onnx", threads=1))
    wide = np.concatenate([drawn_spheroid(256, 60, seed=1), drawn_spheroid(256, 1, seed=2,
                                                                           empty=True)], axis=1)
    frames = [drawn_spheroid(256, 60, seed=4), wide, drawn_spheroid(256, seed=5, empty=True)]
    batch = engine.segment_batch(frames)
    singles = [engine.segment(f) for f in frames]
    engine.close()
    assert batch[1].mask.shape == (64, 128) and batch[1].scale == pytest.approx(4.0)
    assert batch[1].found and batch[1].mask[:, 64:].sum() == 0  # object stays in its half
    assert batch[2].mask.shape == (128, 128) and batch[2].scale == pytest.approx(2.0)
    for a, b in zip(batch, singles, strict=True):
        np.testing.assert_array_equal(a.mask, b.mask)


def test_untrained_segmentation_bundle_runs_end_to_end(bundles):
    engine = _loaded(SegmentationEngine(bundles["seg"], "auto", device="cpu", threads=1))
    out = engine.infer([drawn_spheroid(seed=0)] * 2)
    engine.close()
    assert len(out) == 2 and out[0].mask.shape == (64, 64)


def test_ipp_engine_gives_calibrated_probabilities_per_head(bundles):
    bundle = bundles["ipp"]
    engine = _loaded(IPPEngine(bundle, "onnx", threads=1))
    frame = drawn_spheroid(seed=1)
    seg = ClassicalSegmenter().segment(frame)
    shape = shape_descriptors(seg.mask, seg.scale)
    got = engine.predict(frame, shape)
    assert engine.heads == ("cell_line", "seeding_density")
    assert list(got["cell_line"]) == ["HCT116", "MCF7", "U87"]
    for probs in got.values():
        assert sum(probs.values()) == pytest.approx(1.0)
    # temperature scaling applied to the runtime's raw logits
    x = {"image": engine.standardised(engine.model_image(frame)[1]),
         "shape": engine.shape_vector(shape)}
    raw = engine.runtime.infer(x)
    expected = softmax(raw["cell_line"], 1.5)[0]
    np.testing.assert_allclose(list(got["cell_line"].values()), expected, rtol=1e-6)
    assert not np.allclose(expected, softmax(raw["cell_line"], 1.0)[0])
    # the shape features reach the model, z-normalised with the manifest's statistics
    assert engine.predict(frame, None) != got
    np.testing.assert_allclose(engine.shape_vector(shape)[0, 0], (shape.area - 5000) / 2000,
                               rtol=1e-5)
    batch = engine.predict_batch([frame, frame], [shape, None])
    for head in engine.heads:
        assert batch[0][head] == pytest.approx(got[head], rel=1e-5)
    engine.close()


def test_forecast_engine_predicts_the_next_frame_at_model_size(bundles):
    engine = _loaded(ForecastEngine(bundles["next"], "onnx", threads=1))
    history = [drawn_spheroid(300, 40, seed=1), drawn_spheroid(300, 45, seed=2)]
    meta = engine.meta({"seeding_density": "2000"}, gap_hours=24.0)
    np.testing.assert_allclose(meta, [np.log(2000.0), 1.0], rtol=1e-6)
    out = engine.forecast(history, meta)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    batch = engine.forecast_batch([history, history[::-1]], [meta, None])
    np.testing.assert_allclose(batch[0], out, atol=1e-6)
    with pytest.raises(ValueError, match="needs 2 frames"):
        engine.forecast(history[:1])
    engine.close()


def test_engine_refuses_a_bundle_of_another_task(bundles):
    with pytest.raises(BundleError, match="is a ipp bundle, not segmentation"):
        SegmentationEngine(bundles["ipp"])
    assert torch is not None
