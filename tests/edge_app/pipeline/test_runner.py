"""The pipeline runner on real components: replay source, classical segmenter, SQLite store."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pytest

from edge_app.alerts.rules import create_rules
from edge_app.core.frames import Frame, FrameFailure, FrameMeta
from edge_app.core.plate import load_plate_protocol
from edge_app.pipeline.analysis import FrameAnalyser
from edge_app.pipeline.runner import Pipeline, RunState
from edge_app.sources.sim.replay import ReplaySource
from edge_app.store import StoreWriter
from engines.classical import ClassicalSegmenter
from tests.support import make_frame, write_plate_csv

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


class SlowSegmenter:
    """Our own seam: delays the real segmenter to make the queue fill up."""

    name = "slow-classical"

    def __init__(self, delay: float) -> None:
        self.inner, self.delay = ClassicalSegmenter(), delay

    def segment(self, pixels: np.ndarray):
        time.sleep(self.delay)
        return self.inner.segment(pixels)


class ExplodingSegmenter(ClassicalSegmenter):
    name = "exploding"

    def segment(self, pixels: np.ndarray):
        if pixels.shape == (64, 64):
            raise RuntimeError("boom")
        return super().segment(pixels)


def _pipeline(tmp_path, items, *, segmenter=None, plate=None, **kwargs):
    writer = StoreWriter(tmp_path / "store.sqlite")
    analyser = FrameAnalyser(segmenter or ClassicalSegmenter(), clock=clock)
    pipeline = Pipeline(ReplaySource(items), analyser, writer, plate=plate,
                        rules=create_rules(["quality"], quality_persist=1), clock=clock,
                        **kwargs)
    return pipeline, writer


def test_every_frame_is_stored_or_recorded_as_failed(tmp_path, no_thread_leak):
    plate = load_plate_protocol(write_plate_csv(tmp_path / "plate.csv", ["A1", "A2", "B1"]))
    frames = [make_frame("A1", seed=1), make_frame("A2", seed=2),
              make_frame("B1", empty=True, seed=3), FrameFailure("/d/bad.tif", "zero bytes")]
    pipeline, writer = _pipeline(tmp_path, frames, plate=plate)
    raised = []
    pipeline.events.alert_raised.connect(raised.append)
    pipeline.start()
    assert pipeline.wait(timeout=30)
    pipeline.stop()
    status = pipeline.status()
    assert (status.processed, status.failed, status.state) == (3, 1, RunState.STOPPED)
    summary = writer.reader().summary()
    assert (summary.processed, summary.failed, summary.usable) == (3, 1, 2)
    assert summary.failures_by_reason == {"zero bytes": 1}
    assert [(a.well, a.observed, a.severity.value) for a in raised] == [
        ("B1", "no_spheroid", "critical")
    ]
    writer.close()


def test_duplicates_are_stored_once(tmp_path, no_thread_leak):
    frame = make_frame("A1", seed=1)
    pipeline, writer = _pipeline(tmp_path, [frame, frame, make_frame("A1", seed=1)])
    with pipeline:
        assert pipeline.wait(timeout=30)
    assert pipeline.status().processed == 1
    assert pipeline.status().duplicates == 2
    assert writer.reader().summary().frames == 1
    writer.close()


def test_analysis_error_is_recorded_and_run_goes_on(tmp_path, no_thread_leak):
    bad = Frame(np.zeros((64, 64), np.uint16), FrameMeta(uri="mem://bad", well="C3"))
    items = [make_frame("A1", seed=1), bad, make_frame("A2", seed=2)]
    pipeline, writer = _pipeline(tmp_path, items, segmenter=ExplodingSegmenter())
    with pipeline:
        assert pipeline.wait(timeout=30)
    summary = writer.reader().summary()
    assert summary.processed == 2
    assert summary.failures_by_reason == {"analysis failed: RuntimeError: boom": 1}
    writer.close()


def test_backpressure_blocks_the_source_and_loses_nothing(tmp_path, no_thread_leak):
    items = [make_frame("A1", hours=float(h), seed=h) for h in range(12)]
    pipeline, writer = _pipeline(tmp_path, items, segmenter=SlowSegmenter(0.05), queue_size=2,
                                 max_batch=2)
    depths = []
    pipeline.start()
    while not pipeline.wait(timeout=0.01):
        depths.append(pipeline.status().queue_depth)
    pipeline.stop()
    assert max(depths) <= 2
    assert pipeline.status().processed == 12
    assert writer.reader().summary().processed == 12
    writer.close()


def test_batches_form_only_when_frames_wait(tmp_path):
    pipeline, writer = _pipeline(tmp_path, [], max_batch=4)
    for i in range(6):
        pipeline._queue.put((make_frame("A1", hours=float(i)), 0.0))
    assert len(pipeline._next_batch()) == 4
    assert len(pipeline._next_batch()) == 2
    pipeline._queue.put((make_frame("A1", hours=9.0), 0.0))
    assert len(pipeline._next_batch()) == 1
    writer.close()


def test_stop_while_source_is_blocked_returns(tmp_path, no_thread_leak):
    def endless():
        i = 0
        while True:
            i += 1
            yield make_frame("A1", hours=float(i), seed=i % 5)

    pipeline, writer = _pipeline(tmp_path, endless(), segmenter=SlowSegmenter(0.02), queue_size=1)
    pipeline.start()
    time.sleep(0.3)
    started = time.monotonic()
    pipeline.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert pipeline.status().state is RunState.STOPPED
    assert writer.reader().summary().processed == pipeline.status().processed
    writer.close()


def test_pipeline_cannot_start_twice(tmp_path):
    pipeline, writer = _pipeline(tmp_path, [])
    pipeline.start()
    with pytest.raises(RuntimeError, match="create a new one"):
        pipeline.start()
    pipeline.stop()
    writer.close()
