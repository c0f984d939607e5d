"""``sentinel engines``, ``sentinel predict`` and ``sentinel bench`` on real bundles."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest
import tifffile
from typer.testing import CliRunner

from edge_app.cli import app
from tests.support import drawn_spheroid

pytest.importorskip("torch")
runner = CliRunner()


@pytest.fixture(scope="module")
def zoo_bundles(tmp_path_factory):
    """Untrained tiny zoo models exported as bundles (the production export path)."""
    from engines.export import export_untrained

    root = tmp_path_factory.mktemp("cli-bundles")
    names = {"segmentation": "test_unet", "ipp": "test_fusion_transformer",
             "nextframe": "test_convlstm"}
    return {task: export_untrained(name, root / task).path for task, name in names.items()}


def test_engines_list_and_verify(zoo_bundles, tmp_path):
    listed = runner.invoke(app, ["engines", "list", "--root", str(zoo_bundles["ipp"].parent)])
    assert listed.exit_code == 0, listed.output
    assert "test_fusion_transformer" in listed.output and "runtimes:" in listed.output
    ok = runner.invoke(app, ["engines", "verify", str(zoo_bundles["segmentation"]),
                             "--runtime", "onnx", "--runtime", "torch"])
    assert ok.exit_code == 0, ok.output
    assert "hashes ok" in ok.output and ok.output.count("parity ok") == 2
    broken = shutil.copytree(zoo_bundles["segmentation"], tmp_path / "broken")
    (broken / "weights.safetensors").write_bytes(b"0" * 64)
    bad = runner.invoke(app, ["engines", "verify", str(broken)])
    assert bad.exit_code == 2 and "weights.safetensors was modified" in bad.output
    assert "Traceback" not in bad.output


def test_engines_build_without_tensorrt_is_a_one_line_error(zoo_bundles):
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT present: the build would run")
    result = runner.invoke(app, ["engines", "build", str(zoo_bundles["segmentation"])])
    assert result.exit_code == 2 and "TensorRT is not installed" in result.output


def test_predict_classical_and_with_engines(zoo_bundles, tmp_path):
    image = tmp_path / "P1_A1_s0_t24h.tif"
    tifffile.imwrite(image, drawn_spheroid(size=300, radius=60))
    plain = runner.invoke(app, ["predict", str(image), "--json", "--masks-out",
                                str(tmp_path / "masks"), "--segmentation", "classical",
                                "--ipp", "off"])
    assert plain.exit_code == 0, plain.output
    record = json.loads(plain.output.strip().splitlines()[-1])
    assert record["segmenter"] == "classical" and record["labels"] == {}
    assert record["shape"]["equivalent_diameter"] == pytest.approx(120, rel=0.1)
    mask = cv2.imread(record["mask"], cv2.IMREAD_UNCHANGED)
    assert mask.shape == (300, 300) and (mask > 0).mean() == pytest.approx(0.126, abs=0.03)
    neural = runner.invoke(app, ["predict", str(image), str(image), "--ipp",
                                 str(zoo_bundles["ipp"]), "--segmentation", "classical",
                                 "--runtime", "onnx", "--top", "2"])
    assert neural.exit_code == 0, neural.output
    assert neural.output.count("P1_A1_s0_t24h.tif") == 2 and "cell_line" in neural.output
    missing = runner.invoke(app, ["predict", str(tmp_path / "nope.tif")])
    assert missing.exit_code == 2 and "Error:" in missing.output


def test_bench_smoke_tiny(zoo_bundles):
    result = runner.invoke(app, [
        "bench", "--frames", "3", "--size", "256", "--threads", "1", "--json",
        "--segmentation", str(zoo_bundles["segmentation"]), "--ipp", str(zoo_bundles["ipp"]),
        "--nextframe", str(zoo_bundles["nextframe"])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    runs = {r["runtime"]: r for r in report["runs"]}
    assert {"torch", "onnx"} <= set(runs)
    for run in (runs["torch"], runs["onnx"]):
        assert run["error"] is None
        assert {"read", "segment", "morphometry", "quality", "ipp", "forecast",
                "store"} <= set(run["stage_ms_median"])
        assert run["frames_per_s"] > 0 and run["peak_rss_mb"] > 0 and run["model_ms_median"] > 0
    assert report["speedup_vs_torch"]["onnx"] > 0


@pytest.mark.slow
def test_onnx_runtime_is_at_least_1_5x_faster_than_pytorch_eager_on_the_default_set():
    """The issue's bar: the installed default engines, batch 1, same thread count."""
    from edge_app.bench.engine_speed import measure_engines

    report = measure_engines(12, 2048, threads=2, kinds=[("torch", "cpu"), ("onnx", "cpu")])
    assert all(r.error is None for r in report.runs), report.to_json()
    assert all(r.ipp_frames == 12 for r in report.runs), report.to_json()  # all three models
    assert report.speedup("onnx") >= 1.5, report.to_json()
