"""``sentinel synth`` commands and the synthetic-vs-real contact sheet."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from edge_app.simulation.deviations import read_ground_truth
from trainer.synth.cli import app
from trainer.synth.montage import real_data_dir, real_images

HEADER = (
    "well,cell_line,culture_medium,formation_method,seeding_density,microscope,"
    "magnification,biological_rep,technical_rep,seeded_at"
)
PLATE_CSV = (
    HEADER
    + """
A1,HCT116,DMEMLG,LiquidOverlay-ULA,2000,Axiovert200M,5X,B1,T1,2025-01-06T09:00:00
A2,hct-116,dmemlg,LiquidOverlay-ULA,2000,Axiovert200M,5X,B1,T2,2025-01-06T09:00:00
B1,MCF7,RPMI,LiquidOverlay-ULA,5000,OperaPhenix,10X,B1,T1,2025-01-06T09:00:00
B2,MCF7,RPMI,LiquidOverlay-ULA,5000,OperaPhenix,10X,B1,T2,2025-01-06T09:00:00
"""
)


def test_atlas_command_writes_images_and_masks(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["atlas", str(tmp_path), "--n", "4", "--width", "96"])
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.rglob("*.ome.tiff"))) == 4
    assert len(list(tmp_path.glob("*/Manual segmentations/*/*.tiff"))) == 4


def test_plate_command_reads_the_plate_map(tmp_path: Path) -> None:
    pytest.importorskip("edge_app.core.plate", reason="plate-map reader (issue 2) not present")
    plate = tmp_path / "plate7.csv"
    plate.write_text(PLATE_CSV, encoding="utf-8")
    out = tmp_path / "run"
    args = [
        "plate",
        str(out),
        "--plate",
        str(plate),
        "--deviations",
        "0.25",
        "--rate",
        "0",
        "--format",
        "ndtiff",
        "--hours",
        "0,24",
        "--width",
        "96",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 8 frames, 1 deviations" in result.output
    assert (out / "plate7_acq_1" / "NDTiff.index").stat().st_size > 0
    assert read_ground_truth(out / "ground_truth.csv")[0].plate_id == "plate7"


def test_montage_puts_synthetic_beside_real_images(tmp_path: Path) -> None:
    root = real_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared real images not found at {root} (set SENTINEL_REAL_DATA)")
    assert real_images(root), "no real images found"
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["montage", str(out), "--n", "8"])
    assert result.exit_code == 0, result.output
    sheet = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert sheet.shape[1] == 8 * 160 and sheet.shape[0] > 2 * 160 + 2 * 28


def test_real_data_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_REAL_DATA", str(tmp_path))
    assert real_data_dir() == tmp_path
    monkeypatch.delenv("SENTINEL_REAL_DATA")
    assert "SENTINEL_REAL_DATA" not in os.environ
    assert real_data_dir().parts[-3:] == ("shared", "data", "real")


def test_plate_map_without_optics_columns_gets_the_default_microscope(tmp_path: Path) -> None:
    plate = tmp_path / "plain.csv"
    plate.write_text(
        "well,cell_line,culture_medium,formation_method,seeding_density\n"
        "A1,MCF10A,DMEMF12-BME,LiquidOverlay-ULA,2000\n"  # only IncucyteS3 images MCF10A in BME
        "A2,Unknownline9,DMEMLG,LiquidOverlay-ULA,2000\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["plate", str(tmp_path / "run"), "--plate", str(plate),
                                      "--rate", "0", "--hours", "0", "--width", "64",
                                      "--deviations", "0"])
    assert result.exit_code == 2 and "Unknownline9" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    plate.write_text(
        "well,cell_line,culture_medium,formation_method,seeding_density\n"
        "A1,MCF10A,DMEMF12-BME,LiquidOverlay-ULA,2000\n"
        "A2,HCT116,DMEMLG,LiquidOverlay-ULA,2000\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["plate", str(tmp_path / "run"), "--plate", str(plate),
                                      "--rate", "0", "--hours", "0", "--width", "64",
                                      "--deviations", "0"])
    assert result.exit_code == 0, result.output
    assert "wrote 2 frames" in result.output


def test_default_microscope_follows_the_cell_line_and_medium() -> None:
    from edge_app.simulation.vocab import Vocabulary
    from trainer.synth.cli import DEFAULT_MICROSCOPE, default_microscope, with_optics

    vocab = Vocabulary.default()
    row = {"cell_line": "MCF10A", "culture_medium": "DMEMF12-BME",
           "formation_method": "LiquidOverlay-ULA", "seeding_density": "2000"}
    assert default_microscope(row, vocab) == "IncucyteS3"
    assert with_optics(dict(row), vocab, "p.csv", "A1")["magnification"] == "10X"
    assert default_microscope({"cell_line": "none"}, vocab) == DEFAULT_MICROSCOPE
    with pytest.raises(ValueError, match="A1 has no culture_medium"):
        with_optics({"cell_line": "MCF7", "formation_method": "HangingDrop",
                     "seeding_density": "1000"}, vocab, "p.csv", "A1")
