"""``PycromanagerSource`` through an injected acquisition factory (our seam, DESIGN.md).

``ScriptedAcquisition`` behaves as pycromanager's ``Acquisition`` does for the source: it
calls ``image_process_fn(image, metadata)`` on its own thread with pycromanager's metadata
keys, keeps what the hook returns (what Micro-Manager would save), and honours ``abort``.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import numpy as np
import pytest

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.base import FrameSource
from edge_app.sources.mm.handoff import DROPPED
from edge_app.sources.mm.plate_plan import make_plate_plan
from edge_app.sources.mm.pycromanager_source import (
    MicroManagerUnreachable,
    PycromanagerSource,
    mm_server_up,
)

pytestmark = [pytest.mark.usefixtures("no_thread_leak"), pytest.mark.timeout(60)]


class ScriptedAcquisition:
    """Stand-in for ``pycromanager.Acquisition`` at the factory seam."""

    def __init__(self, *, image_process_fn: Any, pace_s: float = 0.0,
                 bad_metadata_at: int | None = None, fail_at: int | None = None,
                 **kwargs: Any) -> None:
        self.hook, self.pace_s, self.kwargs = image_process_fn, pace_s, kwargs
        self.bad_metadata_at, self.fail_at = bad_metadata_at, fail_at
        self.saved: list[tuple[Any, Any]] = []
        self.sent: list[np.ndarray] = []
        self.aborted = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: Exception | None = None

    def acquire(self, events: list[dict]) -> None:
        self._thread = threading.Thread(target=self._run, args=(events,), name="fake-acq")
        self._thread.start()

    def _run(self, events: list[dict]) -> None:
        for i, event in enumerate(events):
            if self.aborted.is_set():
                return
            if i == self.fail_at:
                self._error = RuntimeError("camera timed out")
                return
            image = np.full((32, 32), i, np.uint16)
            axes = dict(event["axes"])
            metadata = {"Axes": axes, "PositionName": axes["position"],
                        "ElapsedTime-ms": 10.0 * i, "PixelSize_um": 0.65}
            if i == self.bad_metadata_at:
                metadata["Axes"] = {"time": "not-a-number"}
            self.sent.append(image)
            self.saved.append(self.hook(image, metadata))
            time.sleep(self.pace_s)

    def mark_finished(self) -> None:
        """Events were all given in ``acquire``."""

    def abort(self) -> None:
        self.aborted.set()

    def await_completion(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error


def _factory(made: list[ScriptedAcquisition], **options: Any):
    def make(**kwargs: Any) -> ScriptedAcquisition:
        made.append(ScriptedAcquisition(**options, **kwargs))
        return made[-1]

    return make


PLAN = make_plate_plan(96, wells=["A1", "A2", "B1"], sites=2, timepoints=2)


def _source(made: list, **options: Any) -> PycromanagerSource:
    handoff = options.pop("handoff_size", 64)
    return PycromanagerSource(PLAN, acquisition_factory=_factory(made, **options),
                              plate_id="P9", handoff_size=handoff)


def test_hook_hands_every_frame_on_and_returns_it_for_saving(collector):
    made: list[ScriptedAcquisition] = []
    source = _source(made)
    assert isinstance(source, FrameSource)
    source.open(collector)
    assert source.wait(10)
    source.close(5)
    [acq] = made
    assert acq.kwargs["name"] == "sentinel" and acq.kwargs["directory"] is None
    assert all(saved[0] is sent for saved, sent in zip(acq.saved, acq.sent, strict=True))
    frames = collector.frames
    assert sorted((f.meta.well, f.meta.site, f.meta.timepoint_index) for f in frames) == sorted(
        (w, s, t) for w in ("A1", "A2", "B1") for s in (0, 1) for t in (0, 1))
    assert all(f.meta.hours is None and f.meta.pixel_size_um == 0.65 for f in frames)
    elapsed = {f.meta.uri.rsplit("/", 2)[-2:][0]: f.meta.elapsed_s for f in frames
               if f.meta.timepoint_index == 0}
    assert elapsed["A1-Site_0"] == 0.0 and elapsed["A1-Site_1"] == pytest.approx(0.01)
    assert (frames[1].meta.acquired_at - frames[0].meta.acquired_at).total_seconds() == (
        pytest.approx(0.01))
    counts = source.acquisition_counts()
    assert (counts.expected, counts.received, counts.delivered, counts.missing) == (12, 12, 12, 0)


def test_a_bad_image_in_the_hook_is_recorded_and_the_acquisition_goes_on(collector):
    made: list[ScriptedAcquisition] = []
    source = _source(made, bad_metadata_at=4)
    source.open(collector)
    assert source.wait(10)
    source.close(5)
    assert len(made[0].saved) == 12 and made[0].saved[4][0] is made[0].sent[4]
    [failure] = collector.failures
    assert failure.reason.startswith("hook error: ValueError")
    assert len(collector.frames) == 11 and source.error is None


def test_an_acquisition_error_is_kept_and_what_arrived_is_delivered(collector):
    made: list[ScriptedAcquisition] = []
    source = _source(made, fail_at=5)
    source.open(collector)
    assert source.wait(10)
    source.close(5)
    assert isinstance(source.error, RuntimeError) and "camera timed out" in str(source.error)
    assert len(collector.frames) == 5 and source.acquisition_counts().missing == 7
    # Every planned frame that never came is stored as not acquired, with why.
    failures = collector.failures
    assert len(failures) == 7 and len({f.uri for f in failures}) == 7
    assert all(f.reason == "not acquired: the acquisition failed (RuntimeError: camera timed "
               "out)" for f in failures)
    assert not {f.uri for f in failures} & {f.meta.uri for f in collector.frames}
    health = source.health()
    assert health.errors == 1 and "camera timed out" in (health.error or "")


def test_abort_stops_the_acquisition_midway(collector):
    made: list[ScriptedAcquisition] = []
    source = _source(made, pace_s=0.05)
    source.open(collector)
    assert collector.wait_for(2, timeout=10)
    source.close(5)
    assert made[0].aborted.is_set() and source.wait(1)
    assert 2 <= len(collector.items) < 12 and not collector.failures


def test_a_slow_pipeline_gets_recorded_drops_not_a_blocked_hook():
    made: list[ScriptedAcquisition] = []
    items: list[Frame | FrameFailure] = []

    def slow_sink(item: Frame | FrameFailure) -> None:
        time.sleep(0.1)
        items.append(item)

    source = _source(made, handoff_size=1)
    started = time.monotonic()
    source.open(slow_sink)
    assert source.wait(20)
    source.close(5)
    assert time.monotonic() - started < 10
    counts = source.acquisition_counts()
    drops = [i for i in items if isinstance(i, FrameFailure)]
    assert counts.dropped >= 8 and [d.reason for d in drops] == [DROPPED] * counts.dropped
    assert len(items) == 12 and counts.hook_ms_p99 is not None and counts.hook_ms_p99 < 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_closed_port_says_what_to_switch_on_in_micro_manager(collector):
    port = _free_port()
    source = PycromanagerSource(PLAN, port=port)
    started = time.monotonic()
    with pytest.raises(MicroManagerUnreachable) as error:
        source.open(collector)
    assert time.monotonic() - started < 2
    assert 'Tools > Options tick "Run server on port 4827"' in str(error.value)
    assert f"127.0.0.1:{port}" in str(error.value)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert mm_server_up(server.getsockname()[1])
