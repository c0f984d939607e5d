"""The ``sentinel`` CLI end to end on real files, and its documentation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tifffile
import typer.main
from typer.testing import CliRunner

from edge_app.cli import app
from tests.support import drawn_spheroid, write_plate_csv

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def _command_paths(group=None, prefix=()):
    """Every leaf command of the typer app as a tuple of words (``("synth", "plate")``)."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if getattr(command, "commands", None):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


def test_readme_shows_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [" ".join(p) for p in _command_paths()
               if f"sentinel {' '.join(p)}" not in readme]
    assert not missing, f"README.md does not show: {missing}"


def test_every_command_has_help_with_an_example():
    for path in _command_paths():
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example: sentinel" in result.output, f"{' '.join(path)} --help has no example"


def test_watch_once_then_status_and_export(tmp_path):
    folder = tmp_path / "acq"
    folder.mkdir()
    for i, well in enumerate(["A1", "A2", "B1"]):
        tifffile.imwrite(folder / f"P1_{well}_s0_t24h.tif",
                         drawn_spheroid(seed=i, empty=(well == "B1")))
    (folder / "broken.tif").write_bytes(b"II*\x00garbage")
    plate = write_plate_csv(tmp_path / "plate.csv", ["A1", "A2", "B1"])
    db = tmp_path / "run.sqlite"
    result = runner.invoke(app, ["watch", str(folder), "--plate", str(plate), "--db", str(db),
                                 "--headless", "--once", "--pattern", "plate-well-site-time"])
    assert result.exit_code == 0, result.output
    assert re.search(r"A1 s0\s+24\.0 h", result.output)
    assert "no spheroid" in result.output and "broken.tif" in result.output
    status = runner.invoke(app, ["status", "--db", str(db)])
    assert status.exit_code == 0 and "processed" in status.output
    out = tmp_path / "frames.csv"
    export = runner.invoke(app, ["export", "--db", str(db), "--csv", str(out)])
    assert export.exit_code == 0 and "wrote 4 rows" in export.output
    again = runner.invoke(app, ["watch", str(folder), "--db", str(db), "--headless", "--once"])
    assert again.exit_code == 0
    assert "A1 s0" not in again.output  # already processed: reconciled, not repeated


def test_domain_errors_are_one_line(tmp_path):
    bad = tmp_path / "plate.csv"
    bad.write_text("well,celline\nA1,HCT116\n", encoding="utf-8")
    result = runner.invoke(app, ["watch", str(tmp_path), "--plate", str(bad), "--once",
                                 "--headless", "--db", str(tmp_path / "x.sqlite")])
    assert result.exit_code == 2
    assert "Error:" in result.output and "celline" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["status", "--db", str(tmp_path / "nope.sqlite")])
    assert missing.exit_code == 2 and "no store" in missing.output


def test_python_dash_m_edge_app_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "edge_app", "version"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.startswith("spheroid-sentinel ")
