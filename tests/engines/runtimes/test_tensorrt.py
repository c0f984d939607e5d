"""The TensorRT modules' GPU-free parts: plan cache keys, INT8 by explicit quantization,
the Torch-TensorRT route, refusals."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from engines.runtimes import quantize, tensorrt_rt, torch_trt
from engines.runtimes.base import RuntimeUnavailable
from engines.runtimes.tensorrt_rt import PlanKey, TensorRTRuntime

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
ROOT = Path(__file__).resolve().parents[3]


def _key(**changes):
    base = dict(gpu_name="NVIDIA RTX 4090", compute_capability=(8, 9),
                tensorrt_version="10.3.0", bundle_digest="ab" * 32, precision="fp16")
    return PlanKey(**{**base, **changes})


def test_plan_key_changes_with_every_part_it_depends_on(tmp_path):
    base = _key()
    variants = [_key(gpu_name="NVIDIA H200"), _key(compute_capability=(9, 0)),
                _key(tensorrt_version="10.4.0"), _key(bundle_digest="cd" * 32),
                _key(precision="int8")]
    digests = {base.digest, *(v.digest for v in variants)}
    assert len(digests) == 6
    assert _key().digest == base.digest  # stable
    assert base.plan_path(tmp_path).parent == tmp_path
    assert base.plan_path(tmp_path).name.startswith("fp16-")
    with pytest.raises(ValueError, match="valid: \\['fp16', 'int8', 'fp32'\\]"):
        _key(precision="fp8")


@pytest.mark.skipif(HAS_TRT, reason="checks the refusal when TensorRT is absent")
def test_without_tensorrt_everything_refuses_with_what_to_install(tmp_path):
    with pytest.raises(RuntimeUnavailable, match=r"spheroid-sentinel\[gpu\]"):
        tensorrt_rt.import_tensorrt()
    runtime = TensorRTRuntime(tmp_path / "x.plan")
    with pytest.raises(RuntimeUnavailable, match="TensorRT is not installed"):
        runtime.load()


def test_only_the_tensorrt_module_imports_tensorrt():
    pattern = re.compile(r"^\s*(import tensorrt|from tensorrt)", re.M)
    offenders = [str(p.relative_to(ROOT)) for pkg in ("edge_app", "engines", "trainer")
                 for p in (ROOT / pkg).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == ["engines/runtimes/tensorrt_rt.py"]
    torch_trt_pattern = re.compile(r"^\s*(import torch_tensorrt|from torch_tensorrt)", re.M)
    offenders = [str(p.relative_to(ROOT)) for pkg in ("edge_app", "engines", "trainer")
                 for p in (ROOT / pkg).rglob("*.py")
                 if torch_trt_pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == ["engines/runtimes/torch_trt.py"]


def test_int8_inserts_qdq_nodes_with_modelopt_then_builds_strongly_typed(tmp_path, monkeypatch):
    calls = {}

    def fake_quantize(**kwargs):
        calls.update(kwargs)
        Path(kwargs["output_path"]).write_bytes(b"qdq")

    module = types.ModuleType("modelopt.onnx.quantization")
    module.quantize = fake_quantize
    for name in ("modelopt", "modelopt.onnx"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "modelopt.onnx.quantization", module)
    frames = {"image": np.zeros((4, 3, 8, 8), np.float64), "shape": np.ones((4, 9))}
    out = quantize.quantize_int8(tmp_path / "m.onnx", frames, tmp_path / "q" / "m.qdq.onnx")
    assert out.read_bytes() == b"qdq"
    assert calls["quantize_mode"] == "int8" and calls["calibration_method"] == "entropy"
    assert calls["calibration_data"]["image"].dtype == np.float32
    assert calls["onnx_path"] == str(tmp_path / "m.onnx")

    class FakeFlags:
        STRONGLY_TYPED = 3

    fake_trt = types.SimpleNamespace(NetworkDefinitionCreationFlag=FakeFlags)
    assert tensorrt_rt.network_flags(fake_trt, "int8") == 1 << 3
    assert tensorrt_rt.network_flags(fake_trt, "fp16") == 0


def test_int8_refuses_unequal_frames_unknown_methods_and_missing_modelopt(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="same, non-zero count"):
        quantize.calibration_arrays({"image": np.zeros((3, 1)), "shape": np.zeros((2, 1))})
    with pytest.raises(ValueError, match="valid: \\['entropy', 'max'\\]"):
        quantize.quantize_int8(tmp_path / "m.onnx", {"x": np.zeros((1, 1))}, tmp_path / "o",
                               method="minmax")
    monkeypatch.setitem(sys.modules, "modelopt", None)  # import fails as when absent
    with pytest.raises(RuntimeUnavailable, match=r"spheroid-sentinel\[gpu\]"):
        quantize.quantize_int8(tmp_path / "m.onnx", {"x": np.zeros((1, 1))}, tmp_path / "o")


def test_torch_tensorrt_route_keys_its_programs_and_refuses_without_the_package(
        tmp_path, monkeypatch):
    bundle = types.SimpleNamespace(digest="ab" * 32)
    one = torch_trt.program_path(bundle, "fp16", "NVIDIA H200", "torch 2.14", tmp_path)
    assert one.parent == tmp_path and one.name.startswith("torchtrt-fp16-")
    others = {torch_trt.program_path(bundle, "fp32", "NVIDIA H200", "torch 2.14", tmp_path),
              torch_trt.program_path(bundle, "fp16", "NVIDIA L4", "torch 2.14", tmp_path),
              torch_trt.program_path(bundle, "fp16", "NVIDIA H200", "torch 2.15", tmp_path)}
    assert one not in others and len(others) == 3
    with pytest.raises(ValueError, match="valid: \\['fp16', 'fp32'\\]"):
        torch_trt.program_path(bundle, "int8", "x", "y", tmp_path)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)
    with pytest.raises(RuntimeUnavailable, match=r"spheroid-sentinel\[gpu\]"):
        torch_trt.import_torch_tensorrt()
    runtime = torch_trt.TorchTensorRTRuntime(tmp_path / "none.ep", ("image",), ("mask",))
    with pytest.raises(RuntimeUnavailable, match="Torch-TensorRT is not installed"):
        runtime.load()
