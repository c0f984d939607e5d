"""IPP embedding outputs: exported, returned by ONNX Runtime and torch, covered by parity;
``IPPEngine.analyse_batch``; manifests sealed before the new fields keep their digest."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engines.bundle import EMBEDDING, OOD_FEATURES, Manifest, load_bundle
from engines.classical import ClassicalSegmenter
from engines.morphometry import shape_descriptors
from engines.runtimes.base import check_parity
from engines.tasks import IPPEngine, IPPOutput
from tests.engines.tiny_bundles import ipp_bundle  # skips the module without torch
from tests.support import drawn_spheroid


@pytest.fixture(scope="module")
def zoo_bundle(tmp_path_factory):
    from engines.export import export_untrained

    return export_untrained("test_fusion_transformer", tmp_path_factory.mktemp("zoo") / "ipp")


def test_zoo_ipp_bundle_exports_embedding_and_ood_features(zoo_bundle):
    from engines.zoo.blocks import EMBEDDING_OUTPUT, OOD_OUTPUT

    assert (EMBEDDING_OUTPUT, OOD_OUTPUT) == (EMBEDDING, OOD_FEATURES)
    names = zoo_bundle.output_names
    assert names[-2:] == (EMBEDDING, OOD_FEATURES)
    assert [h.name for h in zoo_bundle.manifest.output.heads] == list(names[:-2])
    assert zoo_bundle.manifest.model_kwargs == {"embedding": True}
    _, golden = zoo_bundle.golden()
    assert golden[EMBEDDING].shape == (2, 32) and golden[OOD_FEATURES].shape == (2, 48)


@pytest.mark.parametrize("kind", ["onnx", "torch"])
def test_both_runtimes_return_the_embedding_within_parity(zoo_bundle, kind):
    from engines.runtimes.onnx_rt import OnnxRuntime
    from engines.runtimes.torch_rt import TorchRuntime

    runtime = (OnnxRuntime(zoo_bundle.onnx_path, threads=1) if kind == "onnx"
               else TorchRuntime.from_bundle(zoo_bundle, threads=1))
    runtime.load()
    report = check_parity(runtime, zoo_bundle)  # golden outputs include both new outputs
    assert report.ok
    inputs, _ = zoo_bundle.golden()
    assert {EMBEDDING, OOD_FEATURES} <= set(runtime.infer(inputs))
    runtime.close()


def _frames():
    frames = [drawn_spheroid(seed=s) for s in (1, 2, 3)]
    segmenter = ClassicalSegmenter()
    shapes = [shape_descriptors(s.mask, s.scale) for s in map(segmenter.segment, frames)]
    return frames, shapes


def test_analyse_batch_adds_the_embedding_to_the_probabilities(zoo_bundle):
    engine = IPPEngine(zoo_bundle, "onnx", threads=1)
    engine.load()
    frames, shapes = _frames()
    outputs = engine.analyse_batch(frames, shapes)
    assert all(isinstance(o, IPPOutput) for o in outputs)
    predicted = engine.predict_batch(frames, shapes)
    for out, probs in zip(outputs, predicted, strict=True):
        assert out.probabilities == probs  # analyse adds to predict, changes nothing
        assert out.embedding.dtype == np.float32 and out.embedding.shape == (32,)
        assert out.in_domain is None and math.isnan(out.ood_score)  # no statistics yet
    assert not np.allclose(outputs[0].embedding, outputs[1].embedding)
    raw = engine.raw_outputs(frames[:1], shapes[:1])
    np.testing.assert_allclose(raw[EMBEDDING][0], outputs[0].embedding, rtol=1e-6)
    with pytest.raises(AttributeError):
        outputs[0].ood_score = 0.0  # frozen value between stages
    engine.close()


def test_a_bundle_without_embedding_still_analyses(tmp_path):
    bundle = ipp_bundle(tmp_path / "old")
    engine = IPPEngine(bundle, "onnx", threads=1)
    engine.load()
    frames, shapes = _frames()
    out = engine.analyse_batch(frames, shapes)
    assert [o.probabilities for o in out] == engine.predict_batch(frames, shapes)
    assert all(o.embedding.size == 0 and o.in_domain is None for o in out)


def test_manifests_sealed_before_the_new_fields_keep_their_digest(tmp_path):
    bundle = ipp_bundle(tmp_path / "b")
    body = json.loads((bundle.path / "manifest.json").read_text(encoding="utf-8"))
    del body["ood"]  # what a schema-1 writer before this change wrote
    del body["calibration"]["mondrian"]
    old = Manifest.model_validate(body)
    assert old.integrity == old.content_digest()
    (bundle.path / "manifest.json").write_text(json.dumps(body), encoding="utf-8")
    assert load_bundle(bundle.path).manifest.ood is None


def test_a_bundle_with_ood_must_list_its_statistics_file(tmp_path):
    from engines.bundle import BundleError, OODSpec, write_manifest

    bundle = ipp_bundle(tmp_path / "c")
    spec = OODSpec(head="cell_line", classes=("HCT116",), dims=2, threshold=3.0,
                   quantile=0.99, n_fit=10, n_threshold=10)
    write_manifest(bundle.path, bundle.manifest.model_copy(update={"ood": spec}))
    with pytest.raises(BundleError, match=r"ood\.npz"):
        load_bundle(bundle.path)
