"""Fixtures of the dashboard tests: a store filled by a real simulated run, and a check
that no test leaves a top-level widget behind."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

CONDITIONS = {"A": "RPMI", "B": "DMEMLG"}  # two replicate groups of 6 wells each
HEADER = ("well,cell_line,culture_medium,seeding_density,formation_method,microscope,"
          "magnification,biological_rep,technical_rep,seeded_at")


def write_plate_map(path: Path) -> Path:
    rows = [HEADER] + [
        f"{row}{col},HCT116,{medium},2000,LiquidOverlay-ULA,OperaPhenix,10X,B1,T1,"
        "2026-11-28T08:00:00+00:00"
        for row, medium in CONDITIONS.items() for col in range(1, 7)
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sentinel synth plate`` (12 wells, 2 time points, 20 % deviations) then
    ``sentinel watch --once``: the store a real run leaves behind."""
    from edge_app.cli import app

    root = tmp_path_factory.mktemp("simulated-run")
    plate = write_plate_map(root / "plate.csv")
    runner = CliRunner()
    synth = runner.invoke(app, ["synth", "plate", str(root / "acq"), "--plate", str(plate),
                                "--deviations", "0.2", "--seed", "3", "--rate", "0",
                                "--hours", "24,48", "--width", "256"])
    assert synth.exit_code == 0, synth.output
    watch = runner.invoke(app, ["watch", str(root / "acq"), "--plate", str(plate), "--db",
                                str(root / "run.sqlite"), "--headless", "--once",
                                "--pattern", "plate-well-site-time"])
    assert watch.exit_code == 0, watch.output
    return root / "run.sqlite"


@pytest.fixture
def run_db(simulated_run: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated run's store (the frames stay where they are)."""
    copy = tmp_path / "run.sqlite"
    shutil.copy(simulated_run, copy)
    return copy


# Qt's own cached popups (created once per process on first hover) are not ours.
QT_CACHED = {"QTipLabel"}


@pytest.fixture(autouse=True)
def no_widget_left(request: pytest.FixtureRequest):
    """Fail a Qt test that leaves extra top-level widgets behind (as pymmcore-widgets do)."""
    if "qtbot" not in request.fixturenames:
        yield
        return
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    before = set(QApplication.topLevelWidgets())
    yield
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    gc.collect()  # pyqtgraph's parentless menus go with their Python owners
    left = [type(w).__name__ for w in QApplication.topLevelWidgets()
            if w not in before and type(w).__name__ not in QT_CACHED]
    if left:
        pytest.fail(f"widgets left open after the test: {left}")
