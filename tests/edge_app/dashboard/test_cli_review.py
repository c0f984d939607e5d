"""``sentinel alerts``, ``sentinel review --screenshot`` and ``sentinel export --alerts`` on a
store filled by a real simulated run: decisions survive a restart and are exported."""

from __future__ import annotations

import csv

import pytest
from typer.testing import CliRunner

from edge_app.cli import app
from edge_app.store import Store

runner = CliRunner()


def _ids(db):
    store = Store(db, readonly=True)
    try:
        return [a["id"] for a in store.alerts() if a["well"]]
    finally:
        store.close()


def test_alerts_commands_review_and_export(run_db, tmp_path):
    first, second = _ids(run_db)[:2]
    ok = runner.invoke(app, ["alerts", "confirm", str(first), "--db", str(run_db), "--note",
                             "wrong medium", "--reviewer", "ana"])
    assert ok.exit_code == 0 and "open -> confirmed (ana)" in ok.output
    assert runner.invoke(app, ["alerts", "ack", str(second), "--db", str(run_db)]).exit_code == 0
    assert runner.invoke(app, ["alerts", "dismiss", str(second), "--db",
                               str(run_db)]).exit_code == 0
    again = runner.invoke(app, ["alerts", "ack", str(first), "--db", str(run_db)])
    assert again.exit_code == 2 and "Error: alert" in again.output
    assert "Traceback" not in again.output
    listed = runner.invoke(app, ["alerts", "list", "--db", str(run_db), "--state", "confirmed"])
    assert listed.exit_code == 0 and "1 alert(s)" in listed.output
    assert "ana: wrong medium" in listed.output
    out = tmp_path / "alerts.csv"
    labels = tmp_path / "labels.csv"
    exported = runner.invoke(app, ["export", "--db", str(run_db), "--alerts", str(out),
                                   "--reviews-as-labels", str(labels)])
    assert exported.exit_code == 0, exported.output
    with out.open(encoding="utf-8") as handle:
        rows = {int(r["id"]): r for r in csv.DictReader(handle)}
    assert rows[first]["state"] == "confirmed" and rows[first]["review_reviewer"] == "ana"
    assert rows[second]["state"] == "dismissed" and rows[second]["n_reviews"] == "2"
    assert labels.read_text(encoding="utf-8").startswith("file,")


@pytest.mark.ui
def test_review_screenshot_offscreen_then_restart_keeps_decisions(run_db, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    first = _ids(run_db)[0]
    assert runner.invoke(app, ["alerts", "confirm", str(first), "--db", str(run_db)]
                         ).exit_code == 0
    shot = tmp_path / "review.png"
    result = runner.invoke(app, ["review", str(run_db), "--screenshot", str(shot), "--panels"])
    assert result.exit_code == 0, result.output
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 1200 and image.height() >= 800
    assert all((tmp_path / f"review-{p}.png").is_file() for p in ("plate", "feed", "detail"))
    # a restart of the review: the decision is still there and still exported
    result = runner.invoke(app, ["review", str(run_db), "--screenshot", str(shot)])
    assert result.exit_code == 0
    out = tmp_path / "alerts.csv"
    assert runner.invoke(app, ["export", "--db", str(run_db), "--alerts", str(out)]).exit_code == 0
    with out.open(encoding="utf-8") as handle:
        assert {int(r["id"]): r["state"] for r in csv.DictReader(handle)}[first] == "confirmed"


def test_review_without_a_display_says_what_to_do(run_db, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    result = runner.invoke(app, ["review", str(run_db)])
    assert result.exit_code == 2
    assert "cannot open the dashboard" in result.output and "--screenshot" in result.output
    missing = runner.invoke(app, ["review", str(run_db.with_name("nope.sqlite"))])
    assert missing.exit_code == 2 and "no store" in missing.output


def _no_display(monkeypatch):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.ui
def test_watch_renders_the_live_dashboard_offscreen(simulated_run, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    _no_display(monkeypatch)
    root = simulated_run.parent
    shot, db = tmp_path / "live.png", tmp_path / "live.sqlite"
    result = runner.invoke(app, ["watch", str(root / "acq"), "--plate", str(root / "plate.csv"),
                                 "--db", str(db), "--once", "--pattern", "plate-well-site-time",
                                 "--screenshot", str(shot)])
    assert result.exit_code == 0, result.output
    assert f"saved the dashboard to {shot}" in result.output and shot.stat().st_size > 10_000
    assert "processed" in result.output  # the run's summary still follows


def test_watch_without_a_display_says_so_and_runs_headless(simulated_run, tmp_path,
                                                          monkeypatch):
    _no_display(monkeypatch)
    root = simulated_run.parent
    result = runner.invoke(app, ["watch", str(root / "acq"), "--plate", str(root / "plate.csv"),
                                 "--db", str(tmp_path / "w.sqlite"), "--once",
                                 "--pattern", "plate-well-site-time"])
    assert result.exit_code == 0, result.output
    assert "No dashboard: " in result.output and "running headless" in result.output
