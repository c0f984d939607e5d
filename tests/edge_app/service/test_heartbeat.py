"""The heartbeat beside the store: written atomically by a real live run, read by status."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tifffile

import edge_app.service.heartbeat as heartbeat
from edge_app.cli.runs import run_live
from edge_app.service.heartbeat import (
    HeartbeatWriter,
    describe,
    heartbeat_path,
    read_heartbeat,
    write_atomic,
)
from edge_app.settings import load_settings
from tests.support import drawn_spheroid

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _beat(age_s: float, state: str = "running", **extra) -> dict:
    return {"written_at": (NOW - timedelta(seconds=age_s)).isoformat(), "state": state,
            "interval_s": 5.0, "pid": 42, "host": "scope-pc",
            "source": {"name": "folder", "state": "running", "seen": 9, "emitted": 8,
                       "failed": 1},
            "last_frame": {"uri": "P1_A1_s0_t24h.tif", "well": "A1", "outcome": "stored",
                           "at": (NOW - timedelta(seconds=30)).isoformat()},
            "last_write_at": (NOW - timedelta(seconds=30)).isoformat(), "store": "ok",
            "unwritten": 0, "queue_depth": 3, "frames_per_s": 1.5, "processed": 8, "failed": 1,
            **extra}


def test_atomic_write_leaves_no_partial_or_temporary_file(tmp_path):
    path = heartbeat_path(tmp_path / "run.sqlite")
    assert path.name == "run.sqlite.heartbeat.json"
    for n in range(20):
        write_atomic(path, json.dumps({"written_at": NOW.isoformat(), "n": n}))
    assert read_heartbeat(path)["n"] == 19
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    path.write_text('{"written_at": ')  # torn by something else: not a heartbeat
    assert read_heartbeat(path) is None
    assert read_heartbeat(tmp_path / "absent.json") is None


def test_describe_live_stale_and_ended_runs():
    live = describe(_beat(2), NOW)
    assert live[0].startswith("live run: heartbeat 2 s ago (pid 42 on scope-pc)")
    assert "folder running; seen 9, emitted 8, failed 1" in live[1]
    assert "P1_A1_s0_t24h.tif (A1) stored, 30 s ago" in live[2]
    assert "last write: 30 s ago; store ok" in live[3]
    assert "queue depth: 3" in live[4]
    stale = describe(_beat(600), NOW)
    assert stale[0].startswith("NOT RUNNING: last heartbeat 10 min ago")
    ended = describe(_beat(7200 * 3, state="stopped", last_frame=None, last_write_at=None), NOW)
    assert ended[0] == "no live run: the last run ended (stopped) 6.0 h ago"
    assert "last frame: none yet" in ended[2] and "last write: never" in ended[3]
    dead = _beat(1)
    dead["source"].update(alive=False, error="folder source checker died: OSError: EIO")
    assert "THREAD DIED" in describe(dead, NOW)[1] and "checker died" in describe(dead, NOW)[1]
    locked = describe(_beat(1, store="database locked by another process for 20 s",
                            unwritten=4), NOW)
    assert "store database locked by another process for 20 s, 4 unwritten" in locked[3]


def test_a_live_run_keeps_its_heartbeat_fresh(tmp_path, monkeypatch, no_thread_leak):
    monkeypatch.setattr(heartbeat, "INTERVAL_S", 0.2)
    folder = tmp_path / "acq"
    folder.mkdir()
    for i, well in enumerate(["A1", "A2", "B1"]):
        tifffile.imwrite(folder / f"P1_{well}_s0_t24h.tif", drawn_spheroid(seed=i))
    settings = load_settings(None, source={"folder": folder, "settle_s": 0.1,
                                           "name_pattern": "plate-well-site-time"},
                             segmentation={"backend": "classical"},
                             engines={"ipp": "off", "forecast": "off"})
    db = tmp_path / "run.sqlite"
    path = heartbeat_path(db)
    seen: list[dict] = []
    deadline = time.monotonic() + 60

    def stop_when(status) -> bool:
        beat = read_heartbeat(path)
        if beat is not None and beat["state"] == "running" and beat["processed"] == 3:
            seen.append(beat)
        return len(seen) >= 2 or time.monotonic() > deadline

    run_live(settings, db, None, stop_when=stop_when, quiet=True)
    assert len(seen) >= 2, "no running heartbeat with the 3 frames within 60 s"
    first, second = seen[0], seen[-1]
    assert first["source"]["name"] == "folder" and first["source"]["alive"] is True
    assert first["source"]["state"] not in ("", "finished", "unknown")  # the source's own line
    assert first["last_frame"]["uri"].endswith("_s0_t24h.tif")
    assert first["last_frame"]["outcome"] == "stored" and first["last_write_at"]
    assert first["queue_depth"] == 0 and first["store"] == "ok"
    final = read_heartbeat(path)
    assert final["state"] == "stopped"
    assert datetime.fromisoformat(final["written_at"]) >= \
        datetime.fromisoformat(second["written_at"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_heartbeat_that_cannot_be_written_never_stops_the_run(tmp_path, caplog):
    from edge_app.pipeline.runner import PipelineStatus, RunState
    from edge_app.sources.base import SourceCounts

    class Stand:  # the pipeline's status seam: all a beat needs
        source = type("S", (), {"name": "folder", "wait": lambda self, t: False})()

        def status(self):
            return PipelineStatus(RunState.RUNNING, 0, 0, 0, 0, 0, 0, 0.0, None, None,
                                  SourceCounts())

    writer = HeartbeatWriter(tmp_path / "missing-folder" / "x.json", Stand())
    with caplog.at_level(logging.WARNING, logger=heartbeat.__name__):
        writer.beat()
        writer.beat()
    assert len(caplog.records) == 1 and "not written" in caplog.records[0].getMessage()
    assert not Path(tmp_path / "missing-folder").exists()
