"""What the service runs: ``watch --config sentinel.toml`` takes folder, plate map and store
from the file, logs rotate beside the store, and ``status`` shows the heartbeat."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

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


@pytest.mark.skipif(os.name == "nt", reason="SIGINT: systemd's KillSignal, POSIX only")
def test_sigint_is_a_clean_stop_as_systemctl_stop_sends_it(tmp_path):
    """The unit stops the sentinel with SIGINT: exit 0 (no restart), last heartbeat 'stopped'."""
    folder = tmp_path / "acq"
    folder.mkdir()
    tifffile.imwrite(folder / "P1_A1_s0_t24h.tif", drawn_spheroid(seed=1))
    db = tmp_path / "run.sqlite"
    config = tmp_path / "sentinel.toml"
    config.write_text(settings_template(folder, db) + FAST, encoding="utf-8")
    beat = db.with_name(db.name + ".heartbeat.json")
    root = Path(__file__).resolve().parents[3]
    child = subprocess.Popen([sys.executable, "-m", "edge_app", "watch", "--config", str(config),
                              "--headless"], cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             # as systemd does: default SIGINT even if this shell ignores it
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            state = json.loads(beat.read_text()) if beat.exists() else {}
            if state.get("processed") == 1:
                break
            time.sleep(0.2)
        assert state.get("state") == "running", state
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, out
    assert json.loads(beat.read_text())["state"] == "stopped"
