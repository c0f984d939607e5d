"""TorchRuntime keeps its promise: CUDA graph capture -> torch.compile -> eager, each step
taken only when the one before fails, and the eager result is the model's own."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engines.runtimes.torch_rt import TorchRuntime  # noqa: E402


class _Double(torch.nn.Module):
    def forward(self, x):
        return x * 2.0


def _loaded() -> TorchRuntime:
    runtime = TorchRuntime(_Double(), ["x"], ["y"], device="cpu", threads=1)
    runtime.load()
    return runtime


def test_failed_capture_then_failed_compile_falls_back_to_eager(monkeypatch):
    runtime = _loaded()
    runtime.cuda_graphs, runtime.mode = True, "cuda_graphs"  # as after a CUDA load

    def no_capture(*_):
        raise RuntimeError("capture not supported")

    def broken_compile(model):
        def run(*_):
            raise RuntimeError("inductor failed")
        return run

    monkeypatch.setattr(runtime, "_capture", no_capture)
    monkeypatch.setattr(torch, "compile", broken_compile)
    out = runtime.infer({"x": np.ones((2, 3), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((2, 3), 2.0, np.float32))
    assert runtime.mode == "eager" and runtime.cuda_graphs is False
    again = runtime.infer({"x": np.full((1, 3), 3.0, np.float32)})  # stays eager
    np.testing.assert_array_equal(again["y"], np.full((1, 3), 6.0, np.float32))


def test_failed_capture_uses_the_compiled_model_when_it_works(monkeypatch):
    runtime = _loaded()
    runtime.cuda_graphs, runtime.mode = True, "cuda_graphs"
    compiled = []

    def no_capture(*_):
        raise RuntimeError("capture not supported")

    def fake_compile(model):
        compiled.append(model)
        return lambda x: model(x) + 1.0

    monkeypatch.setattr(runtime, "_capture", no_capture)
    monkeypatch.setattr(torch, "compile", fake_compile)
    out = runtime.infer({"x": np.ones((1, 2), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((1, 2), 3.0, np.float32))
    assert runtime.mode == "compile" and len(compiled) == 1


def test_cpu_runs_eager_without_compiling(monkeypatch):
    runtime = _loaded()

    def must_not_compile(model):
        raise AssertionError("the CPU path must not compile")

    monkeypatch.setattr(torch, "compile", must_not_compile)
    out = runtime.infer({"x": np.ones((1, 2), np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((1, 2), 2.0, np.float32))
    assert runtime.mode == "eager"
