"""Runtimes behind one interface: dynamic batch, parity with the golden outputs, selection
and fallback. Real ONNX Runtime and PyTorch; tiny exported models."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from engines.bundle import load_bundle, read_manifest, sha256_file, write_manifest
from engines.runtimes.base import ParityError, Runtime, RuntimeUnavailable, measure_parity
from engines.runtimes.onnx_rt import OnnxRuntime
from engines.runtimes.select import FallbackRuntime, open_checked, select_runtime
from engines.runtimes.torch_rt import TorchRuntime
from tests.engines.tiny_bundles import TinyIPP, ipp_bundle, segmentation_bundle, torch

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("rt")
    return {"seg": segmentation_bundle(root / "seg"), "ipp": ipp_bundle(root / "ipp")}


def _torch_outputs(model, inputs):
    with torch.inference_mode():
        out = model.eval()(*(torch.from_numpy(a) for a in inputs.values()))
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("batch", [1, 3, 8])
def test_onnx_runtime_dynamic_batch_matches_pytorch(bundles, batch):
    rng = np.random.default_rng(batch)
    inputs = {"image": rng.normal(size=(batch, 3, 32, 32)).astype(np.float32),
              "shape": rng.normal(size=(batch, 9)).astype(np.float32)}
    torch.manual_seed(0)
    reference = _torch_outputs(TinyIPP(), inputs)  # same seed -> same weights as exported
    runtime = OnnxRuntime(bundles["ipp"].onnx_path, threads=1)
    runtime.load()
    try:
        assert isinstance(runtime, Runtime)
        got = runtime.infer(inputs)
    finally:
        runtime.close()
    assert list(got) == ["cell_line", "seeding_density"]
    for want, have in zip(reference, got.values(), strict=True):
        np.testing.assert_allclose(have, want, atol=1e-5, rtol=1e-4)
        assert have.shape[0] == batch


def test_torch_runtime_on_cpu_passes_parity(bundles):
    torch.manual_seed(0)
    runtime = TorchRuntime(TinyIPP(), ["image", "shape"], ["cell_line", "seeding_density"])
    open_checked(runtime, bundles["ipp"])
    report = measure_parity(runtime, bundles["ipp"])
    runtime.close()
    assert report.ok and report.kind == "torch" and report.max_abs < 1e-5


@pytest.mark.skipif(CUDA, reason="checks the CPU-only choice")
def test_auto_without_gpu_picks_onnx_runtime_and_says_why(bundles, caplog):
    caplog.set_level(logging.INFO, logger="engines.runtimes")
    runtime = select_runtime(bundles["seg"], "auto")
    runtime.close()
    assert isinstance(runtime, OnnxRuntime) and runtime.device == "cpu"
    chosen = [r.getMessage() for r in caplog.records if "runtime onnx" in r.getMessage()]
    assert chosen and "no NVIDIA GPU" in chosen[0] and "auto choice" in chosen[0]
    assert any("parity ok" in r.getMessage() for r in caplog.records)


def _perturb_golden(bundle, tmp_path, delta):
    folder = shutil.copytree(bundle.path, tmp_path / "perturbed")
    with np.load(folder / "golden_outputs.npz") as data:
        outputs = {k: data[k] for k in data.files}
    first = next(iter(outputs))
    outputs[first] = outputs[first] + delta
    np.savez(folder / "golden_outputs.npz", **outputs)
    manifest = read_manifest(folder)  # re-sealed, as a (wrong) re-export would be
    files = {**manifest.files, "golden_outputs.npz": sha256_file(folder / "golden_outputs.npz")}
    write_manifest(folder, manifest.model_copy(update={"files": files}))
    return load_bundle(folder)


def test_runtime_disagreeing_with_golden_outputs_is_refused_with_the_error(bundles, tmp_path):
    bad = _perturb_golden(bundles["seg"], tmp_path, 0.25)
    with pytest.raises(ParityError, match=r"refused runtime onnx: max \|error\| 0\.25"):
        select_runtime(bad, "onnx")
    with pytest.raises(RuntimeUnavailable, match="no runtime passed"):
        select_runtime(bad, "auto", device="cpu")


def test_small_disagreement_within_tolerance_passes(bundles, tmp_path):
    ok = _perturb_golden(bundles["seg"], tmp_path, 5e-4)
    select_runtime(ok, "onnx").close()


def test_unknown_runtime_lists_valid_ones(bundles):
    with pytest.raises(ValueError, match="valid: \\['auto', 'tensorrt', 'torch', 'onnx'\\]"):
        select_runtime(bundles["seg"], "openvino")


class _Broken:
    kind, device = "tensorrt_fp16", "cuda"

    def __init__(self):
        self.closed = False

    def load(self):
        pass

    def warmup(self):
        pass

    def infer(self, inputs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def close(self):
        self.closed = True


def test_fallback_runtime_reports_an_engine_event_and_reruns_the_batch(bundles):
    primary = _Broken()
    fallback = FallbackRuntime(primary, lambda: open_checked(
        OnnxRuntime(bundles["seg"].onnx_path, threads=1), bundles["seg"]), engine="seg:tiny")
    events = []
    fallback.engine_event.connect(events.append)
    inputs, outputs = bundles["seg"].golden()
    got = fallback.infer(inputs)
    np.testing.assert_allclose(got["logits"], outputs["logits"], atol=1e-4)
    assert fallback.kind == "onnx" and primary.closed and fallback.fell_back
    assert len(events) == 1 and events[0].kind == "runtime_fallback"
    assert "illegal memory access" in events[0].message and "onnx" in events[0].message
    fallback.infer(inputs)
    assert len(events) == 1  # reported once
    fallback.close()


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs an NVIDIA GPU")
def test_torch_cuda_fp16_graphs_pass_parity_for_every_batch(bundles):
    torch.manual_seed(0)
    runtime = TorchRuntime(TinyIPP(), ["image", "shape"], ["cell_line", "seeding_density"],
                           device="cuda")
    open_checked(runtime, bundles["ipp"])
    assert runtime.kind == "torch_fp16" and runtime.mode == "cuda_graphs"
    for batch in (1, 4):
        x = {"image": np.zeros((batch, 3, 32, 32), np.float32),
             "shape": np.zeros((batch, 9), np.float32)}
        assert runtime.infer(x)["cell_line"].shape == (batch, 3)
    runtime.close()
