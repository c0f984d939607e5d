"""The TensorRT module's GPU-free parts: plan cache keys, calibration batches, refusals."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from engines.runtimes import tensorrt_rt
from engines.runtimes.base import RuntimeUnavailable
from engines.runtimes.tensorrt_rt import CalibrationBatches, PlanKey, TensorRTRuntime

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


def test_calibration_batches_are_fixed_size_and_cover_every_frame():
    images = np.arange(10 * 3 * 2 * 2, dtype=np.float64).reshape(10, 3, 2, 2)
    shapes = np.arange(10 * 9, dtype=np.float32).reshape(10, 9)
    batches = CalibrationBatches({"image": images, "shape": shapes}, batch_size=4)
    out = list(batches)
    assert len(batches) == len(out) == 3
    assert all(b["image"].shape == (4, 3, 2, 2) and b["image"].dtype == np.float32 for b in out)
    seen = np.concatenate([b["shape"] for b in out])[:, 0]
    assert set(seen) == set(shapes[:, 0])  # every frame, the last batch padded with repeats
    np.testing.assert_array_equal(out[2]["shape"][:2], shapes[8:])
    with pytest.raises(ValueError, match="same, non-zero count"):
        CalibrationBatches({"image": images, "shape": shapes[:5]}, 4)
    with pytest.raises(ValueError, match="at least 1"):
        CalibrationBatches({"image": images}, 0)


@pytest.mark.skipif(HAS_TRT, reason="checks the refusal when TensorRT is absent")
def test_without_tensorrt_everything_refuses_with_what_to_install(tmp_path):
    with pytest.raises(RuntimeUnavailable, match=r"spheroid-sentinel\[gpu\]"):
        tensorrt_rt.import_tensorrt()
    runtime = TensorRTRuntime(tmp_path / "x.plan")
    with pytest.raises(RuntimeUnavailable, match="TensorRT is not installed"):
        runtime.load()
    with pytest.raises(RuntimeUnavailable, match="TensorRT is not installed"):
        tensorrt_rt.make_calibrator(CalibrationBatches({"x": np.zeros((2, 1))}, 1),
                                    tmp_path / "c")


def test_only_the_tensorrt_module_imports_tensorrt():
    pattern = re.compile(r"^\s*(import tensorrt|from tensorrt)", re.M)
    offenders = [str(p.relative_to(ROOT)) for pkg in ("edge_app", "engines", "trainer")
                 for p in (ROOT / pkg).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == ["engines/runtimes/tensorrt_rt.py"]
