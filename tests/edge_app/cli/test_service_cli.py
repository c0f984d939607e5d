"""What the service runs: ``watch --config sentinel.toml`` takes folder, plate map and store
from the file, logs rotate beside the store, and ``status`` shows the heartbeat."""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler

import pytest
import tifffile
from typer.testing import CliRunner

import edge_app.cli as cli
from edge_app.cli import app
from installer.service_files import settings_template
from tests.support import drawn_spheroid, write_plate_csv

runner = CliRunner()
FAST = '\n[segmentation]\nbackend = "classical"\n\n[engines]\nipp = "off"\nforecast = "off"\n'


@pytest.fixture
def close_log_files():
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, RotatingFileHandler)]:
        root.removeHandler(handler)
        handler.close()


def test_watch_with_the_service_settings_then_status(tmp_path, close_log_files):
    folder = tmp_path / "acq"
    folder.mkdir()
    for i, well in enumerate(["A1", "A2"]):
        tifffile.imwrite(folder / f"P1_{well}_s0_t24h.tif", drawn_spheroid(seed=i))
    plate = write_plate_csv(tmp_path / "plate.csv", ["A1", "A2"])
    db = tmp_path / "store" / "run.sqlite"
    db.parent.mkdir()
    config = tmp_path / "sentinel.toml"
    config.write_text(settings_template(folder, db, plate) + FAST, encoding="utf-8")
    result = runner.invoke(app, ["watch", "--config", str(config), "--headless", "--once",
                                 "--pattern", "plate-well-site-time"])
    assert result.exit_code == 0, result.output
    assert db.is_file() and not (tmp_path / "sentinel.sqlite").exists()
    log_text = (db.parent / "logs" / "sentinel.log").read_text(encoding="utf-8")
    assert "INFO edge_app.cli.runs: effective settings" in log_text  # log.level = INFO
    status = runner.invoke(app, ["status", "--config", str(config)])
    assert status.exit_code == 0, status.output
    assert "no live run: the last run ended (stopped)" in status.output
    assert "P1_A2_s0_t24h.tif (A2) stored" in status.output or \
        "P1_A1_s0_t24h.tif (A1) stored" in status.output
    assert "queue depth: 0" in status.output and "processed" in status.output


def test_watch_config_without_a_folder_is_one_line(tmp_path):
    config = tmp_path / "sentinel.toml"
    config.write_text('[store]\npath = "x.sqlite"\n', encoding="utf-8")
    result = runner.invoke(app, ["watch", "--config", str(config), "--once", "--headless"])
    assert result.exit_code == 2 and "source.folder in --config" in result.output
    assert "Traceback" not in result.output


def test_log_files_rotate(tmp_path, monkeypatch, close_log_files):
    monkeypatch.setattr(cli, "LOG_FILE_BYTES", 400)
    logs = tmp_path / "logs"
    cli.configure_logging("ERROR", log_dir=logs, file_level="INFO")
    for n in range(100):
        logging.getLogger("edge_app.test").info("frame %03d stored in the store", n)
    names = sorted(p.name for p in logs.iterdir())
    assert names == ["sentinel.log", *(f"sentinel.log.{k}" for k in range(1, 6))]
    assert all(p.stat().st_size <= 400 for p in logs.iterdir())
    assert "frame 099" in (logs / "sentinel.log").read_text(encoding="utf-8")
