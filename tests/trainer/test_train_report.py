"""Paper-layout tables from fake run folders, as Markdown, CSV and through the CLI."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trainer.cli import train_app
from trainer.metrics import interval
from trainer.report import ReportError, build_tables, load_run, render_report, write_metrics

LABELS = ("cell_line", "culture_medium", "seeding_density")


def _ipp(folder: Path, model: str, f1: float, variant: str | None = None) -> Path:
    per_label = {k: {"f1": {"mean": f1 - 0.01 * i, "ci95": 0.002}, "accuracy": f1}
                 for i, k in enumerate(LABELS)}
    write_metrics(folder, "ipp", model, {"accuracy": {"mean": f1 + 0.05, "ci95": 0.0002},
                                         "precision": f1, "recall": f1, "f1": f1},
                  per_label=per_label, variant=variant, inference_time_s=12.5)
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    seg = tmp_path / "seg"
    write_metrics(seg, "segmentation", "U-Net++",
                  {"dice": interval([0.95, 0.97, 0.96]), "iou": 0.93, "accuracy": 0.99,
                   "precision": 0.97, "recall": 0.94, "f1": 0.96}, inference_time_s=841.0)
    frames = tmp_path / "next"
    write_metrics(frames, "nextframe", "MetadataFusion",
                  {"mse": 0.0139, "ssim": {"mean": 0.3985, "ci95": 0.0038}, "psnr": 18.71},
                  baselines={"copy_last": {"mse": 0.02, "ssim": 0.35, "psnr": 17.0}})
    return [seg, frames, _ipp(tmp_path / "coat", "CoAtNet-0", 0.88),
            _ipp(tmp_path / "fusion", "Fusion", 0.90, "full"),
            _ipp(tmp_path / "shape", "Fusion shape-only", 0.55, "shape-only")]


def test_markdown_tables(runs: list[Path]) -> None:
    text = render_report(runs)
    assert "**Table 1: segmentation**" in text
    assert "| U-Net++ | 0.9600 ± 0.01" in text and "| 841.0 |" in text
    assert "| Copy last frame (baseline) | 0.0200 | 0.3500 | 17.00 |" in text
    assert "| MetadataFusion | 0.0139 | 0.3985 ± 0.00380 | 18.71 |" in text
    table2 = text.split("**Table 2")[1].split("**Table")[0]
    assert "CoAtNet-0" in table2 and "Fusion" in table2 and "shape-only" not in table2
    table6 = text.split("**Table 6")[1].split("**Table")[0]
    assert "| Cell Line | 0.9000 | Fusion | 0.8900 | 0.5500 | 0.9944 | " in table6
    table7 = text.split("**Table 7")[1]
    assert table7.index("Full Model") < table7.index("Shape-Only")


def test_csv_splits_intervals(runs: list[Path], tmp_path: Path) -> None:
    render_report(runs, ["1", "4"], csv_dir=tmp_path / "csv")
    rows = list(csv.reader(io.StringIO((tmp_path / "csv" / "table1.csv").read_text())))
    assert rows[0][:3] == ["Model Name", "Dice", "Dice ci95"]
    assert float(rows[1][1]) == pytest.approx(0.96) and float(rows[1][2]) > 0
    assert not (tmp_path / "csv" / "table2.csv").exists()
    assert len(build_tables([load_run(runs[0])])) == 1


def test_bad_runs_raise_with_the_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no metrics\.json"):
        load_run(tmp_path)
    (tmp_path / "metrics.json").write_text('{"task": "dance"}')
    with pytest.raises(ReportError, match="task 'dance'"):
        load_run(tmp_path)


def test_cli_report(runs: list[Path]) -> None:
    result = CliRunner().invoke(train_app, ["report", *map(str, runs), "--tables", "1,6"])
    assert result.exit_code == 0, result.output
    assert "Table 1" in result.output and "Table 6" in result.output
    assert "Table 2" not in result.output
    bad = CliRunner().invoke(train_app, ["report", str(runs[0]), "--tables", "3"])
    assert bad.exit_code != 0 and "valid: 1, 2, 4, 6, 7" in bad.output
