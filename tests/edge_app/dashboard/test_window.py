"""The dashboard window driven like a person would, on a store filled by a real simulated
run: open a well, scrub time, confirm one alert and dismiss another, filter, export."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QPointF, Qt

from edge_app.dashboard.launch import build_window
from edge_app.dashboard.plate_view import tooltip_text, well_colour
from edge_app.store import Store

pytestmark = pytest.mark.ui


@pytest.fixture
def window(qtbot, run_db):
    win = build_window(run_db, refresh_ms=50)
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    win.show()
    qtbot.waitUntil(lambda: win.snapshot is not None, timeout=10_000)
    return win


def _alerts_with_wells(win):
    rows = [r for r in win.feed.model.rows if r.well]
    if len(rows) < 2:
        pytest.fail(f"the simulated run should raise alerts in wells, got {len(rows)}")
    return rows


def test_plate_shows_every_well_with_its_worst_alert(qtbot, window):
    plate = window.plate.plate
    assert plate is not None and len(plate.tiles) == 12
    assert window.windowTitle().endswith(f"{window.snapshot.open_alerts} open alerts")
    qtbot.waitUntil(lambda: window.plate.up_to_date, timeout=10_000)  # drawn off-thread
    image = window.plate.grab().toImage()
    for well, tile in plate.tiles.items():
        centre = window.plate.well_rect(well).center()
        pixel = image.pixelColor(int(centre.x()), int(centre.y() + 3))
        if not tile.open_alerts or tile.open_alerts < 10:  # badge sits top right
            assert pixel.name() == well_colour(tile), well
    assert "plate map" in tooltip_text(plate.tiles["A1"])
    assert window.plate.group_of("A1") == [f"A{c}" for c in range(1, 7)]
    assert window.plate.well_rect("H12").bottom() < window.plate.height()


def test_open_a_well_and_scrub_time(qtbot, window):
    rect = window.plate.well_rect("B4")
    with qtbot.waitSignal(window.plate.wellClicked, timeout=5000) as clicked:
        qtbot.mouseClick(window.plate, Qt.MouseButton.LeftButton,
                         pos=rect.center().toPoint())
    assert clicked.args == ["plate", "B4"]
    detail = window.detail
    qtbot.waitUntil(lambda: detail.context is not None and detail.context.well == "B4",
                    timeout=10_000)
    qtbot.waitUntil(lambda: detail.view is not None, timeout=10_000)
    assert detail.slider.maximum() == 1 and detail.slider.value() == 1  # latest first
    assert "48 h" in detail.caption.text()
    latest = detail.view
    detail.slider.setValue(0)
    qtbot.waitUntil(lambda: detail.view is not None and detail.view is not latest,
                    timeout=10_000)
    assert "24 h" in detail.caption.text() and detail.view.uri.endswith("t24h.tif")
    assert not detail.frame.pixmap().isNull()
    assert detail.plot.cursor.value() == 24.0
    assert detail.table.rowCount() >= 4
    assert len(detail.own.cells) == 5  # B1..B6 but B4
    qtbot.waitUntil(lambda: all(not c.pixmap().isNull() for c in detail.own.cells.values()),
                    timeout=10_000)


def test_confirm_one_dismiss_another_filter_and_export(qtbot, window, run_db, tmp_path):
    first, second = _alerts_with_wells(window)[:2]
    feed = window.feed
    assert feed.select(first.id)
    qtbot.waitUntil(lambda: window.detail.context is not None
                    and window.detail.context.well == first.well, timeout=10_000)
    qtbot.keyClicks(feed.note, "real: wrong medium")
    qtbot.mouseClick(feed.buttons["confirmed"], Qt.MouseButton.LeftButton)
    assert feed.select(second.id)
    feed.table.setFocus()
    qtbot.keyClick(feed.table, Qt.Key.Key_D)  # the keyboard shortcut
    qtbot.waitUntil(lambda: _state(window, first.id) == "confirmed"
                    and _state(window, second.id) == "dismissed", timeout=10_000)
    assert feed.note.text() == ""
    feed.state.setCurrentText("confirmed")
    assert [r.id for r in feed.model.rows] == [first.id]
    feed.state.setCurrentText("any")
    feed.severity.setCurrentText(second.severity)
    assert all(r.severity == second.severity for r in feed.model.rows)
    out = tmp_path / "alerts.csv"
    assert window.export_alerts(out).result(10) == len(window.snapshot.alerts)
    with out.open(encoding="utf-8") as handle:
        rows = {int(r["id"]): r for r in csv.DictReader(handle)}
    assert rows[first.id]["state"] == "confirmed"
    assert rows[first.id]["review_note"] == "real: wrong medium"
    assert rows[second.id]["state"] == "dismissed"


def _state(win, alert_id):
    return next((r.state for r in win.snapshot.alerts if r.id == alert_id), None)


def test_decisions_survive_a_restart(qtbot, run_db):
    win = build_window(run_db, refresh_ms=50)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.snapshot is not None, timeout=10_000)
    target = _alerts_with_wells(win)[0]
    win.feed.select(target.id)
    win.feed.request("acknowledged")
    qtbot.waitUntil(lambda: _state(win, target.id) == "acknowledged", timeout=10_000)
    assert not win.feed.buttons["acknowledged"].isEnabled()  # the workflow moves on
    win.shutdown()
    win.close()
    again = build_window(run_db, refresh_ms=50)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.snapshot is not None, timeout=10_000)
    assert _state(again, target.id) == "acknowledged"
    again.shutdown()
    store = Store(run_db, readonly=True)
    try:
        assert store.db.execute("select count(*) from reviews where alert_id = ?",
                                [target.id]).fetchone()[0] == 1
    finally:
        store.close()


def test_new_critical_alert_reaches_the_tray_and_title(qtbot, window, run_db):
    from datetime import UTC, datetime

    from edge_app.core.results import Alert, Severity

    n = window.snapshot.open_alerts
    store = Store(run_db)
    try:
        store.record_alert(Alert(kind="protocol", severity=Severity.CRITICAL, uri="",
                                 plate_id="plate", well="A1", raised_at=datetime.now(UTC),
                                 message="A1: looks like DMEMLG"))
    finally:
        store.close()
    qtbot.waitUntil(lambda: window.snapshot.open_alerts == n + 1, timeout=10_000)
    assert window.tray_messages == ["A1: looks like DMEMLG"]
    assert f"{n + 1} open alerts" in window.windowTitle()


def test_failed_frames_list_opens_from_the_status_bar(qtbot, window):
    window.status.set_failures((("x/broken.tif", "not a TIFF file"),))
    qtbot.mouseClick(window.status.failed, Qt.MouseButton.LeftButton)
    dialog = window.status.dialog
    assert dialog is not None and dialog.table.item(0, 1).text() == "not a TIFF file"
    assert window.plate.well_at(QPointF(-5, -5)) is None


def test_gradcam_runs_off_the_gui_thread_and_opens_beside(qtbot, run_db):
    import threading

    import numpy as np

    calls = []

    def gradcam(uri, label):
        calls.append((uri, label, threading.current_thread().name))
        return np.full((40, 120, 3), 128, np.uint8), f"{label}: RPMI (38%)"

    win = build_window(run_db, gradcam=gradcam, refresh_ms=50)
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    win.show()
    qtbot.waitUntil(lambda: win.snapshot is not None, timeout=10_000)
    win.open_well("plate", "B4")
    detail = win.detail
    qtbot.waitUntil(lambda: detail.view is not None, timeout=10_000)  # the well is shown
    assert detail.cam_button.isEnabled()
    detail.cam_label.setCurrentText("culture_medium")
    qtbot.mouseClick(detail.cam_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: detail.cam_dialog is not None, timeout=10_000)
    uri, label, thread = calls[0]
    assert label == "culture_medium" and uri == detail.current_frame().uri
    assert thread.startswith("dashboard-worker")
    assert "RPMI (38%)" in detail.cam_dialog.windowTitle()


def test_gradcam_button_says_why_when_unavailable(qtbot, run_db):
    win = build_window(run_db, gradcam_reason="Grad-CAM needs torch", refresh_ms=50)
    qtbot.addWidget(win, before_close_func=lambda w: w.shutdown())
    assert not win.detail.cam_button.isEnabled()
    assert win.detail.cam_button.toolTip() == "Grad-CAM needs torch"


def test_384_well_plates_fit_the_view(qtbot):
    from edge_app.dashboard.plate_view import PlateScene, group_scene, render_plate
    from edge_app.dashboard.snapshot import PlateSnapshot, WellTile

    tiles = {w: WellTile("P", w, expected={"cell_line": "A549"}, n_frames=1)
             for w in ("A1", "H12", "P24")}
    scene = group_scene(PlateSnapshot("P", tiles), PlateScene(width=900, height=640))
    assert scene.plate.format == 384 and scene.shape == (16, 24)
    corner = scene.well_rect("P24")
    assert corner.right() <= 900 and corner.bottom() < 640 - scene.legend_height()
    assert scene.well_at(corner.center()) == "P24"
    image = render_plate(scene)
    centre = scene.well_rect("H12").center()
    assert image.pixelColor(int(centre.x()), int(centre.y() + 2)).name() == "#59b36b"
