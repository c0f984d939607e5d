"""The pipeline with a store that stops taking writes: a ``store`` alert, the status says
why, every frame ends in the database once, and the alert clears when the store recovers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from edge_app.alerts.rules import create_rules
from edge_app.core.results import Alert
from edge_app.pipeline.analysis import FrameAnalyser
from edge_app.pipeline.runner import Pipeline
from edge_app.sources import ReplaySource
from edge_app.store import Store, StoreWriter
from engines.classical import ClassicalSegmenter
from tests.edge_app.store.lockholder import hold_lock
from tests.support import make_frame

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def test_issue12_store_alert_status_and_recovery(tmp_path, no_thread_leak):
    db = tmp_path / "run.sqlite"
    frames = [make_frame(f"{'ABCDEFGH'[i % 8]}{i // 8 + 1}", seed=i) for i in range(25)]
    writer = StoreWriter(db)
    analyser = FrameAnalyser(ClassicalSegmenter(), clock=lambda: NOW)
    pipeline = Pipeline(ReplaySource(frames, rate=25.0), analyser, writer,
                        rules=create_rules(["quality"]), clock=lambda: NOW)
    alerts: list[Alert] = []
    pipeline.events.alert_raised.connect(alerts.append)
    statuses: list[str] = []
    holder = hold_lock(db, 300, after_frames=3)  # the viewer is closed (killed) below
    try:
        pipeline.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not pipeline.wait(0.1):
            statuses.append(pipeline.status().store)
        assert pipeline.status().unwritten > 0  # the lock outlasted the acquisition
        holder.kill()
        out, _ = holder.communicate(timeout=60)
        assert out.split() == ["locked"]
        assert writer.flush(30).unwritten == 0
        statuses.append(pipeline.status().store)
        pipeline.stop()
    finally:
        if holder.poll() is None:
            holder.kill()
        writer.close()
    assert any(s.startswith("database locked by another process for ") for s in statuses)
    assert statuses[-1] == "ok"
    store_alerts = [a for a in alerts if a.kind == "store"]
    assert [a.label for a in store_alerts] == ["unwritable", "recovered"]
    assert "database locked by another process" in store_alerts[0].message
    store = Store(db, readonly=True)
    try:
        rows = store.db.execute(
            "select status, count(*), count(distinct uri) from frames group by status"
        ).fetchall()
        kinds = [tuple(r) for r in store.db.execute(
            "select label, state from alerts where kind = 'store' order by id")]
    finally:
        store.close()
    assert rows == [("processed", 25, 25)]
    assert kinds == [("unwritable", "dismissed"), ("recovered", "open")]
