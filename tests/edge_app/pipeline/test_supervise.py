"""The source supervisor on real components: a dead folder-source thread is seen, alerted and
restarted; a failed Micro-Manager acquisition becomes a ``source`` alert and its undelivered
frames are stored as not acquired."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tifffile

from edge_app.pipeline.analysis import FrameAnalyser
from edge_app.pipeline.runner import Pipeline
from edge_app.sources.folder.source import FolderSource
from edge_app.sources.mm.plate_plan import make_plate_plan
from edge_app.sources.mm.pycromanager_source import PycromanagerSource
from edge_app.store import StoreWriter
from engines.classical import ClassicalSegmenter
from tests.support import drawn_spheroid

pytestmark = [pytest.mark.usefixtures("no_thread_leak"), pytest.mark.timeout(90)]
NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _run(tmp_path: Path, source: Any, until: Any, timeout: float = 20.0) -> StoreWriter:
    writer = StoreWriter(tmp_path / "store.sqlite")
    pipeline = Pipeline(source, FrameAnalyser(ClassicalSegmenter(), clock=lambda: NOW), writer,
                        clock=lambda: NOW)
    pipeline.start()
    try:
        deadline = time.monotonic() + timeout
        while not until(pipeline) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert until(pipeline), pipeline.status()
    finally:
        pipeline.stop()
    return writer


def _rows(writer: StoreWriter, sql: str) -> list[tuple]:
    try:
        return writer.call(lambda s: [tuple(r) for r in s.db.execute(sql).fetchall()])
    finally:
        writer.close()


def test_a_dead_folder_source_is_alerted_and_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        pass

    root = tmp_path / "watch"
    root.mkdir()
    tifffile.imwrite(root / "plate_A1_s0_t24h.tif", drawn_spheroid(seed=1))
    source = FolderSource(root, settle_s=0.1, rescan_s=0.5)
    real_step, calls = source._step, []

    def dies_once(next_scan: float) -> bool:
        calls.append(next_scan)
        if len(calls) == 1:
            raise Killed("checker thread killed")
        return real_step(next_scan)

    monkeypatch.setattr(source, "_step", dies_once)
    writer = _run(tmp_path, source, lambda p: p.status().processed == 1)
    alerts = _rows(writer, "select kind, label, severity, message from alerts order by id")
    assert [(k, lb, sv) for k, lb, sv, _ in alerts] == [
        ("source", "error", "warning"), ("source", "restarted", "warning")]
    assert "Killed: checker thread killed" in alerts[0][3]


class FailingAcquisition:
    """``pycromanager.Acquisition`` at the factory seam: three images, then a camera error."""

    def __init__(self, *, image_process_fn: Any, **kwargs: Any) -> None:
        self.hook = image_process_fn
        self._thread: threading.Thread | None = None

    def acquire(self, events: list[dict]) -> None:
        def run() -> None:
            for i, event in enumerate(events[:3]):
                axes = dict(event["axes"])
                self.hook(drawn_spheroid(128, 30, seed=i),
                          {"Axes": axes, "PositionName": axes["position"]})

        self._thread = threading.Thread(target=run, name="fake-acq")
        self._thread.start()

    def mark_finished(self) -> None:
        """All events were given to ``acquire``."""

    def abort(self) -> None:
        """Nothing to stop."""

    def await_completion(self) -> None:
        if self._thread is not None:
            self._thread.join()
        raise RuntimeError("camera timed out")


def test_a_failed_acquisition_is_an_alert_and_its_missing_frames_are_stored(
    tmp_path: Path,
) -> None:
    plan = make_plate_plan(96, wells=["A1", "A2", "B1", "B2"], sites=1, timepoints=2)
    source = PycromanagerSource(plan, acquisition_factory=FailingAcquisition, plate_id="P1")
    writer = _run(tmp_path, source, lambda p: p.wait(0.1))
    frames = _rows(writer, "select status, reason from frames")
    writer = StoreWriter(tmp_path / "store.sqlite")
    alerts = _rows(writer, "select kind, label, message from alerts")
    assert sorted(status for status, _ in frames) == ["failed"] * 5 + ["processed"] * 3
    reasons = {reason for status, reason in frames if status == "failed"}
    assert reasons == {"not acquired: the acquisition failed (RuntimeError: camera timed out)"}
    [(kind, label, message)] = alerts
    assert (kind, label) == ("source", "error") and "camera timed out" in message


class ScriptedHealth:
    """A source seam: health values set by the test, restarts counted."""

    name = "scripted"

    def __init__(self) -> None:
        from edge_app.sources.base import SourceHealth

        self.value, self.restarted, self.closed = SourceHealth(), 0, False

    def health(self):
        return self.value

    def restart(self) -> None:
        self.restarted += 1

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


def test_supervisor_alerts_once_per_error_restarts_then_gives_up() -> None:
    from dataclasses import replace

    from edge_app.pipeline.supervise import SourceSupervisor

    now = [0.0]
    source, reports = ScriptedHealth(), []
    supervisor = SourceSupervisor(source, lambda m, lb, sv: reports.append((lb, m)),
                                  max_restarts=2, repeat_s=60, clock=lambda: now[0])
    for errors in (1, 2, 3):  # the same error three times within a minute: one alert
        source.value = replace(source.value, errors=errors, error="cannot list X")
        supervisor.check()
    now[0] = 61.0
    source.value = replace(source.value, errors=4)
    supervisor.check()  # a minute later: said again
    source.value = replace(source.value, errors=5, error="another")
    supervisor.check()
    assert reports == [("error", "cannot list X"), ("error", "cannot list X"),
                       ("error", "another")]
    reports.clear()
    source.value = replace(source.value, alive=False)
    for _ in range(4):
        supervisor.check()
    assert [lb for lb, _ in reports] == ["restarted", "restarted", "failed"]
    assert source.restarted == 2 and source.closed
