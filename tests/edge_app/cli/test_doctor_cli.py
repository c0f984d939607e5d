"""``sentinel doctor`` on this PC: every check has a line, failures set the exit status."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from edge_app.cli import app, output
from installer.service_files import settings_template

runner = CliRunner()
CHECKS = ("GPU and driver", "CUDA (PyTorch)", "ONNX Runtime", "TensorRT", "engine: segmentation",
          "engine: ipp", "engine: forecast", "free disk beside the store",
          "display for the dashboard", "watched folder", "packages")


@pytest.fixture(autouse=True)
def wide_table(monkeypatch):
    monkeypatch.setattr(output.console, "width", 400)  # one row per check, unwrapped


def test_doctor_reads_the_service_settings_and_reports_every_check(tmp_path):
    folder = tmp_path / "acq"
    folder.mkdir()
    config = tmp_path / "sentinel.toml"
    config.write_text(settings_template(folder, tmp_path / "run.sqlite"), encoding="utf-8")
    result = runner.invoke(app, ["doctor", "--config", str(config)])
    out = result.output
    for name in CHECKS:
        assert name in out, (name, out)
    assert str(folder) in out and "GiB free" in out
    assert "verified; runtime" in out  # the shipped bundles, opened as watch would
    failed = any(" fail " in line for line in out.splitlines())
    assert result.exit_code == (1 if failed else 0), out


def test_doctor_names_a_missing_folder_as_a_failure(tmp_path):
    result = runner.invoke(app, ["doctor", "--folder", str(tmp_path / "gone"), "--no-engines",
                                 "--db", str(tmp_path / "run.sqlite")])
    assert result.exit_code == 1, result.output
    assert "not a folder" in result.output and "engine:" not in result.output
    assert "watched folder: create it" in result.output
