"""The SQLite store: migrations, exactly-once frames, failures, alerts, reviews, export."""

from __future__ import annotations

import csv
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from edge_app.core.frames import FrameFailure, FrameMeta
from edge_app.core.results import Alert, AlertState, FrameResult, Quality, Severity
from edge_app.store import Store, StoreError, StoreWriter
from edge_app.store.migrations import MIGRATIONS
from engines.morphometry import ShapeDescriptors

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _result(uri: str = "/data/A1.tif", sha: str = "abc", quality=(Quality.OK,)) -> FrameResult:
    meta = FrameMeta(uri=uri, plate_id="P1", well="A01", site=0,
                     extra={"size": 100, "mtime_ns": 5})
    shape = ShapeDescriptors(1000.0, 120.0, 0.3, 0.95, 0.75, 35.7, 40.0, 33.0, 0.87)
    return FrameResult(
        meta=meta, sha=sha, width=64, height=64, dtype="uint16", shape=shape, quality=quality,
        focus=1.0, n_objects=1, segmenter="classical", hours=24.0, processed_at=NOW,
        timings_ms={"segment": 3.0},
    )


def _alert(uri: str = "/data/A1.tif") -> Alert:
    return Alert(kind="quality", severity=Severity.WARNING, message="A1: out of focus", uri=uri,
                 plate_id="P1", well="A1", raised_at=NOW, observed="out_of_focus")


def test_migrations_recorded_once(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    store = Store(path)
    names = [r["name"] for r in store.db["_migrations"].rows]
    assert names == [name for name, _ in MIGRATIONS]
    assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
    store.close()


def test_result_recorded_exactly_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    first = store.record_result(_result(), [_alert()])
    again = store.record_result(_result(), [_alert()])
    assert first is not None and again is None
    assert store.is_processed("/data/A1.tif", "abc")
    assert not store.is_processed("/data/A1.tif", "other")
    summary = store.summary()
    assert (summary.frames, summary.processed, summary.usable, summary.alerts_open) == (1, 1, 1, 1)
    row = store.db.execute("select well, hours, area from frames join results "
                           "on results.frame_id = frames.id").fetchone()
    assert row == ("A1", 24.0, 1000.0)
    store.close()


def test_is_known_by_size_and_mtime(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record_result(_result())
    assert store.is_known("/data/A1.tif", 100, 5)
    assert not store.is_known("/data/A1.tif", 100, 6)  # rewritten since
    assert store.is_known("/data/A1.tif", -1, -1)
    assert not store.is_known("/data/B1.tif", -1, -1)
    store.close()


def test_failures_keep_reason_and_count(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record_failure(FrameFailure("/data/bad.tif", "truncated TIFF"))
    store.record_failure(FrameFailure("/data/bad.tif", "truncated TIFF"))
    store.record_failure(FrameFailure("/data/empty.tif", "zero bytes"))
    summary = store.summary()
    assert summary.failed == 2
    assert summary.failures_by_reason == {"truncated TIFF": 1, "zero bytes": 1}
    store.close()


def test_review_moves_state_and_keeps_history(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record_result(_result(), [_alert()])
    alert_id = store.alerts()[0]["id"]
    store.review_alert(alert_id, AlertState.ACKNOWLEDGED, reviewer="ana", at=NOW)
    store.review_alert(alert_id, AlertState.DISMISSED, reviewer="ana", note="dust", at=NOW)
    assert store.alerts()[0]["state"] == "dismissed"
    reviews = list(store.db["reviews"].rows)
    assert [r["state"] for r in reviews] == ["acknowledged", "dismissed"]
    with pytest.raises(StoreError, match="no alert"):
        store.review_alert(999, AlertState.CONFIRMED)
    store.close()


def test_export_csv_has_one_row_per_frame(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    store.record_result(_result())
    store.record_failure(FrameFailure("/data/bad.tif", "zero bytes"))
    out = tmp_path / "out.csv"
    assert store.export_csv(out) == 2
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["processed", "failed"]
    assert rows[0]["frame_id"] == "1" and rows[1]["frame_id"] == "2"
    assert rows[0]["circularity"] == "0.87" and rows[1]["reason"] == "zero bytes"
    store.close()


def test_corrupt_database_is_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="move the file aside"):
        Store(path)


def test_writer_serialises_writes_from_many_threads(tmp_path):
    before = threading.active_count()
    writer = StoreWriter(tmp_path / "s.sqlite")

    def produce(k: int) -> None:
        for i in range(25):
            writer.submit(lambda s, k=k, i=i: s.record_result(_result(f"/d/{k}-{i}.tif", "x")))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.call(lambda s: None)
    assert writer.reader().summary().processed == 100
    writer.close()
    assert threading.active_count() == before
    with pytest.raises(sqlite3.ProgrammingError):
        writer.reader().db.execute("select 1")  # closed connections stay closed
