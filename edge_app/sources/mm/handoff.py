"""Hand-off from a live acquisition callback to the pipeline, without ever blocking the callback.

Micro-Manager calls our hook on its own thread (pymmcore-plus ``frameReady``, pycromanager
``image_process_fn``). The hook only copies the pixels into a small bounded queue; a relay
thread builds the ``Frame`` and calls the pipeline's sink, which may block (backpressure).
When the queue is full the frame is counted and recorded as a ``FrameFailure`` with reason
``dropped: pipeline too slow``: never lost silently (pymmcore-plus ``mda/_thread_relay.py``).

:class:`LiveFrames` is the bookkeeping both Micro-Manager sources share: the plan's expected
frames vs those received, enqueued, dropped and delivered, and the time spent in the hook.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from edge_app.core.frames import Frame, FrameFailure, FrameMeta
from edge_app.sources.base import FrameSink, SourceCounts, SourceHealth
from edge_app.sources.mm.plate_plan import PlatePlan
from edge_app.sources.naming import parse_position_name
from engines.metrics import p99

log = logging.getLogger(__name__)

DROPPED = "dropped: pipeline too slow"


@dataclass(frozen=True)
class LiveImage:
    """What the acquisition hook captured: a private copy of the pixels and where/when."""

    pixels: np.ndarray
    label: str | None
    timepoint: int | None
    elapsed_ms: float | None = None
    pixel_size_um: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AcquisitionCounts:
    """Frames the plan expected vs received by the hook, enqueued, dropped and delivered."""

    expected: int
    received: int
    enqueued: int
    dropped: int
    delivered: int
    failed: int
    hook_ms_median: float | None
    hook_ms_p99: float | None

    @property
    def missing(self) -> int:
        """Planned frames the acquisition never delivered to the hook."""
        return max(0, self.expected - self.received)

    def describe(self) -> str:
        hook = (f"hook median {self.hook_ms_median:.3f} ms, p99 {self.hook_ms_p99:.3f} ms"
                if self.hook_ms_median is not None else "hook not called")
        return (f"expected {self.expected}, received {self.received}, enqueued {self.enqueued}, "
                f"dropped {self.dropped}, missing {self.missing}, delivered {self.delivered}, "
                f"failed {self.failed}; {hook}")


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    array = np.asarray(values) * 1e3
    return float(np.median(array)), p99(array)


class LiveFrames:
    """Bounded hand-off queue + relay thread + counts for one live acquisition of a plan."""

    def __init__(
        self,
        plan: PlatePlan,
        *,
        source: str,
        plate_id: str | None,
        maxsize: int = 256,
        clock: Callable[[], datetime],
    ) -> None:
        self.plan, self.source, self.plate_id, self.clock = plan, source, plate_id, clock
        self.started_at = clock()
        self.acq_id = self.started_at.strftime("%Y%m%dT%H%M%S%f")
        self._queue: queue.Queue[LiveImage | FrameFailure] = queue.Queue(maxsize=max(1, maxsize))
        self._overflow: deque[FrameFailure] = deque()
        self._lock = threading.Lock()
        self._received: set[tuple[str | None, int | None]] = set()
        self._n = {"received": 0, "enqueued": 0, "dropped": 0, "delivered": 0, "failed": 0}
        self._hook_s: list[float] = []
        self._hook_errors = 0
        self._closing = threading.Event()
        self._drained = threading.Event()
        self._thread: threading.Thread | None = None

    # --- acquisition-thread side (never blocks) -------------------------------------------
    def offer(self, image: LiveImage) -> bool:
        """Queue ``image`` for the pipeline; on overflow record it as dropped. Never blocks."""
        with self._lock:
            self._n["received"] += 1
            self._received.add((image.label, image.timepoint))
        try:
            self._queue.put_nowait(image)
        except queue.Full:
            with self._lock:
                self._n["dropped"] += 1
            self._overflow.append(FrameFailure(self.uri(image.label, image.timepoint), DROPPED))
            return False
        with self._lock:
            self._n["enqueued"] += 1
        return True

    def fail(self, uri: str, reason: str) -> None:
        """Record a failure (bad hook input, missing frame) without blocking."""
        self._overflow.append(FrameFailure(uri, reason))

    def hook_failed(self, exc: Exception) -> None:
        """The callback got an image it could not read: it arrived, record why it is lost."""
        log.warning("%s: could not take a frame from the callback: %s", self.source, exc)
        with self._lock:
            self._n["received"] += 1
            self._hook_errors += 1
        self.fail(self.uri(None, None) + f"#{time.monotonic_ns()}",
                  f"hook error: {type(exc).__name__}: {exc}")

    def hook_time(self, seconds: float) -> None:
        """Add one measurement of the time spent inside the acquisition callback."""
        self._hook_s.append(seconds)

    def uri(self, label: str | None, timepoint: int | None) -> str:
        return f"mm://{self.source}/{self.acq_id}/{label or 'unlabelled'}/t{timepoint or 0}"

    # --- relay side ----------------------------------------------------------------------
    def start(self, sink: FrameSink) -> None:
        self._thread = threading.Thread(target=self._relay, args=(sink,), daemon=True,
                                        name=f"{self.source}-relay")
        self._thread.start()

    def _relay(self, sink: FrameSink) -> None:
        try:
            while True:
                while self._overflow:
                    self._deliver(sink, self._overflow.popleft())
                try:
                    item = self._queue.get(timeout=0.05)
                except queue.Empty:
                    if self._closing.is_set() and not self._overflow:
                        return
                    continue
                self._deliver(sink, self.to_frame(item) if isinstance(item, LiveImage) else item)
        finally:
            self._drained.set()

    def _deliver(self, sink: FrameSink, item: Frame | FrameFailure) -> None:
        try:
            sink(item)
        except Exception:  # the sink belongs to the pipeline; record and go on
            log.exception("%s: the pipeline refused a frame", self.source)
            return
        with self._lock:
            self._n["failed" if isinstance(item, FrameFailure) else "delivered"] += 1

    def to_frame(self, image: LiveImage) -> Frame | FrameFailure:
        """Build the ``Frame`` (well, site, hours, acquisition time) on the relay thread."""
        uri = self.uri(image.label, image.timepoint)
        try:
            place = parse_position_name(image.label) if image.label else None
            elapsed_s = image.elapsed_ms / 1e3 if image.elapsed_ms is not None else None
            t = image.timepoint
            meta = FrameMeta(
                uri=uri, plate_id=self.plate_id, well=place[0] if place else None,
                site=place[1] if place else 0,
                hours=self.plan.hours_at(t) if t is not None else None, elapsed_s=elapsed_s,
                acquired_at=self.started_at + timedelta(seconds=elapsed_s or 0.0),
                microscope=f"micro-manager:{self.source}", pixel_size_um=image.pixel_size_um,
                timepoint_index=t, extra={"position": image.label, **image.extra},
            )
            return Frame(image.pixels, meta)
        except Exception as exc:  # a bad image becomes a recorded failure
            return FrameFailure(uri, f"unusable live frame: {type(exc).__name__}: {exc}")

    def finish(self, *, completed: bool, error: BaseException | None = None) -> None:
        """Record each planned frame never received, as ``not acquired: <why>``.

        When the acquisition completed, or failed with ``error``. A cancelled one (the run
        was stopped) records nothing: those frames were not due. Frames whose hook failed
        are already recorded (without their label), so a completed acquisition does not
        record them again as missing.
        """
        with self._lock:
            received, hook_errors = set(self._received), self._hook_errors
        missing = [(label, t) for label, t in self.plan.expected() if (label, t) not in received]
        if missing:
            log.warning("%s: %d planned frame(s) never arrived%s", self.source, len(missing),
                        "" if completed else " (acquisition stopped early)")
        if error is not None:
            why = f"not acquired: the acquisition failed ({type(error).__name__}: {error})"
        elif completed and len(missing) > hook_errors:
            why = "not acquired: the microscope returned no image"
        else:
            return
        for label, t in missing:
            self.fail(self.uri(label, t), why[:500])

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued, then stop the relay thread."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def drained(self) -> bool:
        return self._drained.is_set()

    # --- counts --------------------------------------------------------------------------
    def acquisition_counts(self) -> AcquisitionCounts:
        with self._lock:
            n = dict(self._n)
        median, p99 = _percentiles(list(self._hook_s))
        return AcquisitionCounts(self.plan.n_frames, n["received"], n["enqueued"], n["dropped"],
                                 n["delivered"], n["failed"], median, p99)

    def report(self) -> AcquisitionCounts:
        """Log expected vs received vs enqueued (a warning when any frame went missing)."""
        counts = self.acquisition_counts()
        level = logging.WARNING if counts.missing or counts.dropped else logging.INFO
        log.log(level, "%s: %s", self.source, counts.describe())
        return counts

    def source_counts(self) -> SourceCounts:
        with self._lock:
            return SourceCounts(seen=self._n["received"], emitted=self._n["delivered"],
                                failed=self._n["failed"])


def acquisition_health(error: BaseException | None, done: bool) -> SourceHealth:
    """A live source's health: its acquisition's failure (one error) once there is one."""
    state = "failed" if error is not None else "finished" if done else "acquiring"
    message = f"the acquisition failed: {type(error).__name__}: {error}" if error else None
    return SourceHealth(alive=True, state=state, error=message, errors=int(error is not None))


def timed_hook(live: LiveFrames, capture: Callable[[], LiveImage]) -> bool:
    """Run ``capture`` and offer its image, timing the whole callback; never raises."""
    t0 = time.perf_counter()
    try:
        return live.offer(capture())
    except Exception as exc:  # an error in the hook must not abort the acquisition
        live.hook_failed(exc)
        return False
    finally:
        live.hook_time(time.perf_counter() - t0)
