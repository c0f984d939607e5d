"""A store that never drops a frame: locks, full disks and values SQLite cannot hold.

Issue 12's triggers, each a named test: a lock held by another process, a full disk (the
database capped with ``max_page_count``; the spool failing at our own seam), a site of 10^22,
starting while another process holds the lock.
"""

from __future__ import annotations

import errno
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from edge_app.core.frames import FrameFailure, FrameMeta
from edge_app.core.results import Alert, FrameResult, Quality, Severity
from edge_app.store import Store, StoreError, StoreWriter
from edge_app.store.health import StoreHealth
from edge_app.store.rows import alert_entry, failure_entry, result_entry
from edge_app.store.spool import Spool, spool_path
from engines.morphometry import ShapeDescriptors
from tests.edge_app.store.lockholder import hold_lock

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _result(uri: str, site: int = 0, sha: str = "") -> FrameResult:
    meta = FrameMeta(uri=uri, plate_id="P1", well="A1", site=site,
                     extra={"size": 100, "mtime_ns": 5})
    shape = ShapeDescriptors(1000.0, 120.0, 0.3, 0.95, 0.75, 35.7, 40.0, 33.0, 0.87)
    return FrameResult(
        meta=meta, sha=sha or f"sha-{uri}", width=64, height=64, dtype="uint16", shape=shape,
        quality=(Quality.OK,), focus=1.0, n_objects=1, segmenter="classical", hours=24.0,
        processed_at=NOW, timings_ms={"segment": 3.0},
    )


def _alert(uri: str) -> Alert:
    return Alert(kind="quality", severity=Severity.WARNING, message="out of focus", uri=uri,
                 plate_id="P1", well="A1", raised_at=NOW)


def _rows(db) -> list[tuple]:
    store = Store(db, readonly=True)
    try:
        return store.db.execute(
            "select status, count(*), count(distinct uri) from frames group by status"
        ).fetchall()
    finally:
        store.close()


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[StoreHealth] = []
        self.lock = threading.Lock()

    def __call__(self, health: StoreHealth) -> None:
        with self.lock:
            self.seen.append(health)


def test_issue12_lock_by_another_process_loses_no_frame(tmp_path):
    db = tmp_path / "run.sqlite"
    writer = StoreWriter(db)
    recorder = _Recorder()
    writer.health_changed.connect(recorder)
    holder = hold_lock(db, 120)  # released by killing the holder, as a closed viewer would
    try:
        outcomes = [writer.write(result_entry(_result(f"/d/{i}.tif"), [_alert(f"/d/{i}.tif")]))
                    .result(30) for i in range(25)]
        assert {o.where for o in outcomes} == {"spool"}  # durable before it counts as done
        assert len(Spool(spool_path(db))) == 25
        health = writer.health()
        assert not health.ok
        assert health.message.startswith("database locked by another process for ")
        assert health.spooled == 25
    finally:
        holder.kill()
        holder.wait(30)
    assert writer.flush(30).ok
    assert writer.health().unwritten == 0
    writer.close()
    assert _rows(db) == [("processed", 25, 25)]
    store = Store(db, readonly=True)
    assert store.summary().alerts_by_kind == {"quality": 25}
    store.close()
    assert not spool_path(db).exists()
    assert not recorder.seen[0].ok and recorder.seen[-1] == StoreHealth()


def test_issue12_spool_is_replayed_on_the_next_start(tmp_path):
    db = tmp_path / "run.sqlite"
    writer = StoreWriter(db)
    holder = hold_lock(db, 120)
    try:
        for i in range(5):
            assert writer.write(result_entry(_result(f"/d/{i}.tif"))).result(30).where == "spool"
        writer.write(alert_entry(_alert(""))).result(30)
        writer.close()  # still locked: the last try fails, the spool stays
        assert len(Spool(spool_path(db))) == 6
    finally:
        holder.kill()
        holder.wait(30)
    restarted = StoreWriter(db)
    assert restarted.health() == StoreHealth()
    restarted.close()
    assert _rows(db) == [("processed", 5, 5)]
    # a replay interrupted after the database took it (crash before the spool was cut):
    Spool(spool_path(db)).append([result_entry(_result("/d/0.tif")), _keyed_alert()])
    StoreWriter(db).close()
    StoreWriter(db).close()
    store = Store(db, readonly=True)
    n_alerts = store.db.execute("select count(*) from alerts").fetchone()[0]
    store.close()
    assert _rows(db) == [("processed", 5, 5)]
    assert n_alerts == 2  # one from the first spool, one keyed alert written once


def _keyed_alert() -> dict:
    entry = alert_entry(_alert(""))
    entry["key"] = "fixed-key"
    return entry


def test_issue12_start_while_another_process_holds_the_lock_is_one_line(tmp_path):
    db = tmp_path / "run.sqlite"
    Store(db).close()
    holder = hold_lock(db, 3.0)
    try:
        with pytest.raises(StoreError) as caught:
            StoreWriter(db, start_wait_s=0.3)
    finally:
        holder.wait(30)
    message = str(caught.value)
    assert "\n" not in message
    assert "locked by another process" in message and str(db) in message


def test_issue12_site_of_ten_to_the_22_is_a_failure_with_a_reason(tmp_path):
    entry = result_entry(_result("/d/plate_A1_s99999999999999999999999_t24h.tif", site=10**22))
    assert entry["frame"]["status"] == "failed"
    assert "site 10000000000000000000000 is out of range" in entry["frame"]["reason"]
    writer = StoreWriter(tmp_path / "run.sqlite")
    outcome = writer.write(entry).result(30)
    again = writer.write(entry).result(30)
    writer.close()
    assert (outcome.where, outcome.status) == ("db", "failed")
    assert again.frame_id is None  # the next run does not analyse it again
    store = Store(tmp_path / "run.sqlite", readonly=True)
    row = store.db.execute("select site, reason from frames").fetchone()
    assert store.is_known("/d/plate_A1_s99999999999999999999999_t24h.tif", 100, 5)
    store.close()
    assert row[0] is None and "out of range" in row[1]


def test_failure_entries_and_undecodable_names_are_stored(tmp_path):
    uri = "/d/bad-\udcff.tif"  # a file name with a byte that is not UTF-8 (surrogate escape)
    store = Store(tmp_path / "s.sqlite")
    assert store.record_failure(FrameFailure(uri, "truncated", size=3, mtime_ns=4)) is not None
    assert store.is_known(uri, 3, 4)
    assert store.apply(failure_entry(FrameFailure(uri, "truncated", size=3, mtime_ns=4))) is None
    store.close()


def _cap_pages(store: Store) -> None:
    pages = store.db.execute("pragma page_count").fetchone()[0]
    store.db.execute(f"pragma max_page_count = {pages}")


def test_issue12_disk_full_then_spool_full_keeps_frames_in_memory(tmp_path):
    db = tmp_path / "run.sqlite"

    class FullSpool(Spool):
        full = True

        def append(self, entries):
            if self.full:
                raise OSError(errno.ENOSPC, "No space left on device")
            super().append(entries)

    spool = FullSpool(spool_path(db))
    writer = StoreWriter(db, spool=spool)
    writer.call(_cap_pages)
    outcomes = [writer.write(result_entry(_result(f"/d/{i:03}.tif", sha="x" * 400)))
                .result(30) for i in range(20)]
    health = writer.health()
    held = [o for o in outcomes if o.where == "memory"]
    assert outcomes[-1].where == "memory" and {o.where for o in outcomes} <= {"db", "memory"}
    assert health.held == len(held) > 10
    assert " bytes free on " in health.message and not health.ok
    spool.full = False  # space comes back on the spool's disk first
    writer.call(lambda s: None)
    assert writer.flush(3).spooled == len(held)
    writer.call(lambda s: s.db.execute("pragma max_page_count = 1073741823"))
    assert writer.flush(30) == StoreHealth()
    writer.close()
    assert _rows(db) == [("processed", 20, 20)]


def test_a_value_sqlite_refuses_becomes_a_failed_frame(tmp_path):
    entry = result_entry(_result("/d/odd.tif"))
    entry["result"]["focus"] = object()  # not a value any SQLite column can hold
    writer = StoreWriter(tmp_path / "s.sqlite")
    outcome = writer.write(entry).result(30)
    writer.close()
    assert outcome.status == "failed" and "cannot hold" in (outcome.reason or "")
    assert _rows(tmp_path / "s.sqlite") == [("failed", 1, 1)]


def test_a_torn_database_write_never_half_stores_a_frame(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    entry = result_entry(_result("/d/a.tif"), [_alert("/d/a.tif")])
    entry["alerts"][0]["no_such_column"] = 1
    with pytest.raises(sqlite3.OperationalError):
        store.apply(entry)
    assert store.db.execute("select count(*) from frames").fetchone()[0] == 0
    store.close()
