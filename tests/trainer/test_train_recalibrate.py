"""``sentinel train recalibrate`` on a toy IPP bundle with the atlas vocabulary: embedding
outputs, Mondrian scores, OOD statistics, the command recorded, the bundle re-sealed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engines.bundle import EMBEDDING, OOD_FEATURES, HeadSpec, load_bundle  # noqa: E402
from engines.conformal import mondrian_p_value, threshold  # noqa: E402
from engines.tasks import IPPEngine  # noqa: E402
from trainer.train.recalibrate import (  # noqa: E402
    RecalibrateRequest,
    atlas_frames,
    recalibrate,
)

SHAPE_MEAN = [23633.0, 547.0, 0.377, 0.958, 0.754, 153.9, 161.3, 147.3, 0.831]
SHAPE_STD = [23206.0, 301.9, 0.110, 0.020, 0.033, 80.1, 84.4, 76.6, 0.139]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A random-weight fusion model with the atlas's microscope and cell-line heads."""
    from edge_app.simulation.vocab import Vocabulary
    from engines.export import export_bundle
    from engines.zoo import create_model

    vocab = Vocabulary.default()
    heads = [HeadSpec(name=h, labels=vocab.names(h)) for h in ("microscope", "cell_line")]
    torch.manual_seed(0)
    kwargs = {"heads": {h.name: len(h.labels) for h in heads}}
    model = create_model("test_fusion_transformer", **kwargs).eval()
    rng = np.random.default_rng(0)
    inputs = {"image": rng.normal(size=(2, 3, 64, 64)).astype(np.float32),
              "shape": rng.normal(size=(2, 9)).astype(np.float32)}
    return export_bundle(model, "test_fusion_transformer", "ipp",
                         tmp_path_factory.mktemp("toy") / "ipp", sample_inputs=inputs,
                         output_names=[h.name for h in heads], size=(64, 64), heads=heads,
                         shape_stats=(SHAPE_MEAN, SHAPE_STD), model_kwargs=kwargs,
                         data={"width": 512}, command="sentinel train --preset toy")


@pytest.fixture(scope="module")
def rebuilt(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("re") / "ipp"
    request = RecalibrateRequest(bundle=toy.path, n=240, seed=11, ood_quantile=0.9,
                                 ood_dims=16, out=out,
                                 command="sentinel train recalibrate --n 240 --seed 11")
    return recalibrate(request)


def test_rebuilt_bundle_has_the_embedding_outputs_and_keeps_its_inputs(toy, rebuilt):
    assert load_bundle(rebuilt.path).manifest == rebuilt.manifest  # sealed and verified
    assert rebuilt.output_names == ("microscope", "cell_line", EMBEDDING, OOD_FEATURES)
    assert rebuilt.manifest.model_kwargs["embedding"] is True
    old_inputs, old_outputs = toy.golden()
    new_inputs, new_outputs = rebuilt.golden()
    for name, array in old_inputs.items():
        np.testing.assert_array_equal(new_inputs[name], array)
    for head in ("microscope", "cell_line"):  # same weights: same logits
        np.testing.assert_allclose(new_outputs[head], old_outputs[head], rtol=1e-5, atol=1e-5)
    manifest = rebuilt.manifest
    assert manifest.command == "sentinel train recalibrate --n 240 --seed 11"
    assert manifest.data["trained_by"] == "sentinel train --preset toy"
    assert manifest.data["recalibration"]["seed"] == 11
    assert manifest.ood is not None and manifest.ood.file in manifest.files


def test_mondrian_scores_cover_the_held_out_half_per_class(rebuilt):
    manifest = rebuilt.manifest
    usable = manifest.data["recalibration"]["n_usable"]
    assert 0.7 * 240 < usable <= 240  # most atlas frames pass the quality gate
    for head in manifest.output.heads:
        scores = manifest.calibration.mondrian[head.name]
        assert set(scores) == set(head.labels)
        assert sum(len(v) for v in scores.values()) == usable // 2  # the odd rows
        for values in scores.values():
            assert list(values) == sorted(values) and all(0 <= v <= 1 for v in values)
        assert 0 < threshold(manifest.calibration, head.name, 0.07) <= 1  # any error rate
        assert str(0.05) in manifest.calibration.conformal[head.name]  # old table kept
    assert manifest.ood.n_fit + manifest.ood.n_threshold == usable


def test_engine_reports_ood_and_p_values_on_fresh_renders(rebuilt):
    from engines.classical import ClassicalSegmenter
    from engines.morphometry import shape_descriptors

    engine = IPPEngine(rebuilt, "onnx", threads=1)
    engine.load()
    frames = [f for f, _ in atlas_frames(seed=21, n=40, width=512)]
    segs = [ClassicalSegmenter().segment(f) for f in frames]
    shapes = [shape_descriptors(s.mask, s.scale) if s.found else None for s in segs]
    outputs = engine.analyse_batch(frames, shapes)
    spec = rebuilt.manifest.ood
    for out in outputs:
        assert out.embedding.shape == (32,) and out.ood_threshold == spec.threshold
        assert out.in_domain == (out.ood_score <= spec.threshold)
    assert np.mean([o.in_domain for o in outputs]) >= 0.7  # nominal 90% on the same atlas
    probs = outputs[0].probabilities["cell_line"]
    p = mondrian_p_value(rebuilt.manifest.calibration, "cell_line", "MCF7", probs["MCF7"])
    assert 0 < p <= 1
    engine.close()


def test_cli_refuses_a_folder_that_is_no_bundle(tmp_path):
    from typer.testing import CliRunner

    from trainer.cli import train_app

    result = CliRunner().invoke(train_app, ["recalibrate", "--bundle", str(tmp_path)])
    assert result.exit_code == 2
    flat = "".join(c for c in result.output if c.isalnum())  # the error box wraps lines
    assert "notanenginebundle" in flat
