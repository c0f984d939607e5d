"""The shipped default engines verify, and the demo recipe retrains from scratch (tiny)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from engines.bundle import load_bundle
from engines.runtimes.base import check_parity
from engines.runtimes.select import select_runtime
from trainer.cli import train_app
from trainer.train.export_run import export_run_folder

BUNDLES = Path(__file__).resolve().parents[2] / "engines" / "bundles"
TASKS = ("segmentation", "ipp", "nextframe")


@pytest.mark.parametrize("task", TASKS)
def test_shipped_bundle_verifies(task: str) -> None:
    folder = BUNDLES / task
    if not (folder / "manifest.json").is_file():
        pytest.fail(f"no shipped {task} bundle; run: sentinel train --preset demo")
    bundle = load_bundle(folder)  # sha256 of every file
    manifest = bundle.manifest
    assert manifest.task == task
    # Trained by the demo preset; the IPP bundle was then recalibrated from its own weights.
    trained_by = manifest.data.get("trained_by", manifest.command)
    assert trained_by.startswith("sentinel train --preset demo")
    assert manifest.command.startswith(("sentinel train --preset demo",
                                        "sentinel train recalibrate"))
    assert manifest.data["trained_on_synthetic"] is True
    assert sum(p.stat().st_size for p in folder.iterdir()) < 30e6
    for kind in ("onnx", "torch"):  # ONNX Runtime and the weights rebuilt from the manifest
        runtime = select_runtime(bundle, kind)
        try:
            assert check_parity(runtime, bundle).ok
        finally:
            runtime.close()
    if task == "ipp":
        assert {h.name for h in manifest.output.heads} >= {"cell_line", "timepoint"}
        assert set(manifest.calibration.temperature) == {h.name for h in manifest.output.heads}
        assert manifest.input.shape_mean is not None


def test_demo_recipe_retrains_tiny_from_scratch_and_reports(tmp_path) -> None:
    runner = CliRunner()
    out = tmp_path / "demo"
    result = runner.invoke(train_app, ["--preset", "demo", "--tiny", "--epochs", "3",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    for task in TASKS:
        history = json.loads((out / task / "history.json").read_text())
        assert history[-1]["train_loss"] < history[0]["train_loss"], task
        metrics = json.loads((out / task / "metrics.json").read_text())
        values = [v["mean"] if isinstance(v, dict) else v for v in metrics["summary"].values()]
        assert values and all(math.isfinite(v) for v in values), metrics["summary"]
        bundle = load_bundle(out / "bundles" / task)
        assert bundle.manifest.command == (
            f"sentinel train --preset demo --tiny --epochs 3 --out {out}")  # as typed
    ipp = json.loads((out / "ipp" / "metrics.json").read_text())
    assert set(ipp["baselines"]["shape_only_logreg"]) <= set(ipp["per_label"])
    assert all("coverage" in h for h in ipp["calibration"].values())
    again = export_run_folder(out / "nextframe", tmp_path / "re-export")  # run -> bundle
    first = load_bundle(out / "bundles" / "nextframe")
    assert again.manifest.command == first.manifest.command
    np.testing.assert_allclose(again.golden()[1]["next_frame"], first.golden()[1]["next_frame"],
                               atol=1e-6)
    report = runner.invoke(train_app, ["report", *(str(out / t) for t in TASKS),
                                       str(out / "ipp_shape_only")])
    assert report.exit_code == 0, report.output
    for title in ("Table 1: segmentation", "Table 2: inverse protocol prediction",
                  "Table 4: next-frame prediction", "Table 6: per-label best performance",
                  "Copy last frame (baseline)", "Table 7", "Shape-Only"):
        assert title in report.output
