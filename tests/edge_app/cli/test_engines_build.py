"""``sentinel engines build``: both build routes refuse clearly where they cannot run."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from edge_app.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def zoo_bundles():
    """The shipped bundles (the refusals come before any model is built)."""
    from engines.bundle import default_bundle

    found = {task: default_bundle(task) for task in ("segmentation",)}
    if any(path is None for path in found.values()):
        pytest.skip("no shipped segmentation bundle")
    return found


def test_unknown_build_route_names_the_valid_ones(zoo_bundles):
    result = runner.invoke(app, ["engines", "build", str(zoo_bundles["segmentation"]),
                                 "--via", "onnx-magic"])
    assert result.exit_code == 2
    assert "onnx-parser" in result.output and "torch-tensorrt" in result.output


def test_torch_tensorrt_route_is_fp16_or_fp32_only(zoo_bundles):
    result = runner.invoke(app, ["engines", "build", str(zoo_bundles["segmentation"]),
                                 "--via", "torch-tensorrt", "--int8"])
    assert result.exit_code == 2 and "--via onnx-parser" in result.output


def test_torch_tensorrt_route_without_the_package_is_a_one_line_error(zoo_bundles):
    pytest.importorskip("torch")
    if importlib.util.find_spec("torch_tensorrt") is not None:
        pytest.skip("Torch-TensorRT present: the build would run")
    result = runner.invoke(app, ["engines", "build", str(zoo_bundles["segmentation"]),
                                 "--via", "torch-tensorrt"])
    assert result.exit_code == 2 and "Torch-TensorRT is not installed" in result.output
    assert "Traceback" not in result.output
