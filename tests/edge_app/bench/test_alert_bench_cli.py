"""``sentinel bench alerts`` end to end: a small simulated plate through watch's pipeline."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from edge_app.cli import app

runner = CliRunner()


def test_small_plate_is_scored_and_thresholds_set_the_exit_code(tmp_path):
    args = ["bench", "alerts", "--plate-size", "24", "--groups", "6-6", "--sites", "1",
            "--hours", "24,48", "--seeds", "9101", "--deviations", "0.1",
            "--kinds", "empty_well,swapped_cell_line", "--separability-n", "20",
            "--cache", str(tmp_path / "sep.json"), "--out", str(tmp_path / "run"), "--json",
            "--min-recall", "empty_well=1.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "below threshold: recall of empty_well" in result.stderr
    report = json.loads(result.stdout)
    assert (report["plates"], report["wells"], report["well_frames"]) == (1, 24, 48)
    kinds = {(r["kind"], r["subset"]): r for r in report["kinds"]}
    assert kinds[("empty_well", "all")]["n"] == 1
    assert kinds[("swapped_cell_line", "all")]["n"] == 1
    swapped = [d for d in report["deviations"] if d["kind"] == "swapped_cell_line"]
    assert 0.0 <= swapped[0]["separability"] <= 1.0
    assert (tmp_path / "run" / "seed9101" / "acquisition" / "ground_truth.csv").exists()
    assert json.loads((tmp_path / "sep.json").read_text())  # one cached condition pair


def test_bare_bench_keeps_its_options():
    result = runner.invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--folder-latency" in result.output and "alerts" in result.output
