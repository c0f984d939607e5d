"""``PymmcorePlusSource`` on a real UniMMCore MDA with the virtual plate microscope."""

from __future__ import annotations

import threading
import time

import pytest

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.base import FrameSource
from edge_app.sources.mm.handoff import DROPPED
from edge_app.sources.mm.plate_plan import make_plate_plan
from edge_app.sources.mm.pymmcore_source import PymmcorePlusSource
from edge_app.sources.sim.virtual_scope import VirtualPlateMicroscope

pytestmark = [pytest.mark.usefixtures("mm_env", "no_thread_leak"), pytest.mark.timeout(120)]


def _source(plan, *, faults=(), handoff_size=256):
    scope = VirtualPlateMicroscope(plan, plate_id="P1", frame_size=96, faults=faults)
    return PymmcorePlusSource(scope, plan, plate_id="P1", handoff_size=handoff_size), scope


def _run(source: PymmcorePlusSource, sink, timeout: float = 60.0) -> None:
    source.open(sink)
    try:
        assert source.wait(timeout)
    finally:
        source.close(10)


def test_every_planned_frame_arrives_once_with_well_site_and_hours(collector):
    plan = make_plate_plan(96, wells=["A1", "H12"], sites=2, timepoints=3, hours=[6, 30, 54])
    source, scope = _source(plan)
    assert isinstance(source, FrameSource)

    def slow_sink(item):  # a pipeline busy 100 ms per frame must not slow the callback
        time.sleep(0.1)
        collector(item)

    _run(source, slow_sink)
    got = sorted((f.meta.well, f.meta.site, f.meta.hours, f.meta.timepoint_index)
                 for f in collector.frames)
    assert got == sorted((w, s, h, t) for w in ("A1", "H12") for s in (0, 1)
                         for t, h in enumerate((6.0, 30.0, 54.0)))
    assert len({f.meta.uri for f in collector.frames}) == 12 and not collector.failures
    assert all(f.meta.plate_id == "P1" and f.meta.acquired_at is not None
               for f in collector.frames)
    counts = source.acquisition_counts()
    assert (counts.expected, counts.received, counts.enqueued, counts.delivered,
            counts.dropped, counts.missing) == (12, 12, 12, 12, 0, 0)
    assert source.counts().seen == 12 and source.counts().emitted == 12
    # Wall time under whatever else runs on the machine: a margin, yet far below the sink's
    # 100 ms, so a callback that waited on the pipeline would fail it.
    assert counts.hook_ms_median is not None and counts.hook_ms_median < 50.0
    assert scope.core is None  # explicit teardown ran


def test_a_camera_fault_becomes_a_recorded_missing_frame(collector):
    plan = make_plate_plan(96, wells=["B2", "B3"], timepoints=2, hours=[24, 48])
    source, _ = _source(plan, faults=[("B3", 0, 1)])
    _run(source, collector)
    assert len(collector.frames) == 3
    [failure] = collector.failures
    assert failure.uri.endswith("/B3-Site_0/t1") and failure.reason.startswith("not acquired")
    assert source.acquisition_counts().missing == 1


def test_a_slow_pipeline_never_blocks_the_callback_and_drops_are_recorded():
    plan = make_plate_plan(96, wells=["A1", "A2", "A3", "A4"], sites=2, timepoints=2,
                           hours=[24, 48])
    items: list[Frame | FrameFailure] = []

    def slow_sink(item: Frame | FrameFailure) -> None:
        time.sleep(0.05)
        items.append(item)

    source, _ = _source(plan, handoff_size=2)
    _run(source, slow_sink)
    counts = source.acquisition_counts()
    dropped = [i for i in items if isinstance(i, FrameFailure)]
    assert counts.dropped > 0 and len(dropped) == counts.dropped
    assert all(d.reason == DROPPED for d in dropped)
    assert len(items) == plan.n_frames  # each frame: delivered or recorded as dropped
    assert counts.hook_ms_p99 is not None and counts.hook_ms_p99 < 20.0  # < the 50 ms sink


def test_close_cancels_a_running_acquisition_without_inventing_failures(collector):
    plan = make_plate_plan(96, sites=2, timepoints=3, hours=[24, 48, 72])
    source, scope = _source(plan)
    source.open(collector)
    assert collector.wait_for(5, timeout=30)
    started = time.monotonic()
    source.close(10)
    assert time.monotonic() - started < 10 and source.wait(1)
    assert 5 <= len(collector.items) < plan.n_frames
    assert not collector.failures
    assert scope.core is None and not any(
        t.name.startswith("pymmcore") for t in threading.enumerate())
