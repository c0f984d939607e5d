"""Responsiveness: frames stream through a real pipeline into an open dashboard while the
event loop's timer drift is measured (the issue's bar: p99 under 50 ms at 10 frames/s)."""

from __future__ import annotations

import itertools
import statistics
import time
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt, QTimer

from edge_app.core.plate import load_plate_protocol
from edge_app.dashboard.launch import build_window
from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.sources.sim.replay import ReplaySource
from edge_app.store import StoreWriter
from tests.support import make_frame, write_plate_csv

pytestmark = pytest.mark.ui
WELLS = [f"{r}{c}" for r in "ABCD" for c in range(1, 7)]
TICK_MS = 50


def _frames(n: int):
    for i in range(n):
        yield make_frame(WELLS[i % len(WELLS)], hours=24.0 * (1 + i // len(WELLS)), seed=i % 7)


def measure_drift(qtbot, tmp_path: Path, seconds: float, rate: float = 10.0) -> dict:
    """Stream ``seconds * rate`` frames through the pipeline into an open dashboard while a
    user opens wells and scrubs; return the lateness of a 50 ms timer (ms) and the run's
    figures."""
    plate = load_plate_protocol(write_plate_csv(tmp_path / "plate.csv", WELLS), plate_id="P1")
    db = tmp_path / "live.sqlite"
    writer = StoreWriter(db)
    writer.call(lambda store: store.record_plate(plate))
    n = int(seconds * rate)
    pipeline = build_pipeline(load_settings(None), writer, plate=plate,
                              source=ReplaySource(_frames(n), rate=rate))
    window = build_window(db, status=pipeline.status)
    qtbot.addWidget(window, before_close_func=lambda w: w.shutdown())
    with qtbot.waitExposed(window):
        window.show()
    ticks: list[float] = []
    probe = QTimer(window)
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
    user = QTimer(window)  # a person clicking around every 2 s
    clicks = iter(WELLS * 10)
    user.timeout.connect(lambda: _click(window, next(clicks)))
    try:
        # The window is up and a well was opened once (first paint, first plot) before the
        # stream starts: the bar is about streaming, not start-up.
        qtbot.waitUntil(lambda: window.snapshot is not None, timeout=10_000)
        window.open_well("P1", WELLS[0])
        qtbot.waitUntil(lambda: window.detail.context is not None, timeout=10_000)
        qtbot.wait(300)
        pipeline.start()
        probe.start(TICK_MS)
        user.start(2000)
        qtbot.wait(int(seconds * 1000))
        probe.stop()
        user.stop()
        status = pipeline.status()
    finally:
        pipeline.stop()
        writer.close()
        window.shutdown()
    late = sorted(max(0.0, (b - a) * 1e3 - TICK_MS) for a, b in itertools.pairwise(ticks))
    return {"p99_ms": late[int(0.99 * (len(late) - 1))], "max_ms": late[-1],
            "median_ms": statistics.median(late), "ticks": len(late),
            "received": status.received, "processed": status.processed,
            "frames_per_s": status.frames_per_s,
            "snapshots": window.snapshot.frames if window.snapshot else 0}


def _click(window, well: str) -> None:
    if window.snapshot is not None and window.snapshot.plate() is not None:
        window.open_well("P1", well)
        detail = window.detail
        if detail.context is not None and detail.slider.maximum() > 0:
            detail.slider.setValue(0)


def _report(figures: dict, seconds: float) -> None:
    print(f"\ndashboard timer drift over {seconds:g} s at 10 frames/s: p99 "
          f"{figures['p99_ms']:.1f} ms, median {figures['median_ms']:.1f} ms, max "
          f"{figures['max_ms']:.1f} ms ({figures['ticks']} ticks); pipeline received "
          f"{figures['received']} and processed {figures['processed']} frames "
          f"({figures['frames_per_s']:.1f} frames/s)")


def test_timer_drift_short_run(qtbot, tmp_path):
    figures = measure_drift(qtbot, tmp_path, seconds=10)
    _report(figures, 10)
    # The frames really flowed (10 frames/s for 10 s; a loaded 2-core box keeps up less)
    assert figures["received"] >= 60 and figures["processed"] >= 40
    assert figures["snapshots"] >= 40  # and the dashboard showed them
    # The bar (p99 < 50 ms) is held by the 2-minute run. Ten seconds on a box shared with
    # other jobs (load 14 on 2 cores measured 35-96 ms; 16-19 ms at load 10) get a margin
    # that still fails a GUI thread blocked for whole frames.
    assert figures["p99_ms"] < 150


@pytest.mark.slow
def test_timer_drift_two_minutes(qtbot, tmp_path):
    figures = measure_drift(qtbot, tmp_path, seconds=120)
    _report(figures, 120)
    assert figures["received"] >= 1000 and figures["processed"] >= 950
    assert figures["p99_ms"] < 50
