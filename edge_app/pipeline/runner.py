"""``Pipeline``: source thread -> bounded queue -> worker threads -> store writer.

The source only enqueues (a full queue blocks it: explicit backpressure). Workers take a
batch when several frames wait and one frame when idle. Every frame ends in the store as a
result or as a failure with its reason; none is dropped silently.
"""

from __future__ import annotations

import logging
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from psygnal import Signal, SignalGroup

from edge_app.alerts.rules import AlertRule
from edge_app.core.clock import utcnow
from edge_app.core.frames import Frame, FrameFailure
from edge_app.core.results import Alert, FrameResult, Severity
from edge_app.pipeline.analysis import FrameAnalyser
from edge_app.pipeline.supervise import SourceSupervisor
from edge_app.sources.base import FrameSource, SourceCounts
from edge_app.store.health import StoreHealth, store_alert
from edge_app.store.rows import alert_entry, failure_entry, result_entry
from edge_app.store.writer import StoreWriter, WriteOutcome
from engines.metrics import p99

log = logging.getLogger(__name__)
_STOP = object()


class RunState(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class PipelineEvents(SignalGroup):
    """Emitted on the store-writer thread once the write is done."""

    frame_processed = Signal(FrameResult)
    frame_failed = Signal(FrameFailure)
    frame_skipped = Signal(str)
    alert_raised = Signal(Alert)


@dataclass(frozen=True)
class PipelineStatus:
    """A snapshot for the CLI, the dashboard's status bar and tests."""

    state: RunState
    received: int
    processed: int
    failed: int
    duplicates: int
    alerts: int
    queue_depth: int
    frames_per_s: float
    latency_ms_median: float | None
    latency_ms_p99: float | None
    source: SourceCounts
    store: str = "ok"
    unwritten: int = 0


class Pipeline:
    """Wires one source, one analyser, alert rules and the store writer."""

    def __init__(
        self,
        source: FrameSource,
        analyser: FrameAnalyser,
        writer: StoreWriter,
        *,
        plate: Any | None = None,
        rules: Sequence[AlertRule] = (),
        queue_size: int = 64,
        max_batch: int = 8,
        workers: int = 1,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.source, self.analyser, self.writer = source, analyser, writer
        self.plate, self.rules, self.clock = plate, list(rules), clock
        self.max_batch, self.n_workers = max(1, max_batch), max(1, workers)
        self.events = PipelineEvents()
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self._state = RunState.IDLE
        self._stop_requested = threading.Event()
        self._lock = threading.Lock()
        self._counts = {"received": 0, "processed": 0, "failed": 0, "duplicates": 0,
                        "alerts": 0, "in_flight": 0}
        self._latencies: deque[float] = deque(maxlen=2000)
        self._done_times: deque[float] = deque(maxlen=200)
        self._workers: list[threading.Thread] = []
        self._supervisor = SourceSupervisor(source, self.report_source_event)
        self._store_ok = True
        writer.health_changed.connect(self._store_health)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        if self._state is not RunState.IDLE:
            raise RuntimeError(f"pipeline is {self._state}; create a new one to run again")
        self.analyser.warmup()
        self._state = RunState.RUNNING
        for i in range(self.n_workers):
            worker = threading.Thread(target=self._work, name=f"pipeline-worker-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self.source.open(self._enqueue)
        self._supervisor.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True once a finite source is exhausted and every frame is stored."""
        deadline = None if timeout is None else time.monotonic() + timeout
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not self.source.wait(remaining):
            return False
        while deadline is None or time.monotonic() < deadline:
            with self._lock:
                idle = self._counts["in_flight"] == 0
            if idle and self._queue.empty() and self.writer.pending() == 0:
                return True
            time.sleep(0.02)
        return False

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop the source, finish frames already queued, flush the store. Always tears down."""
        if self._state in (RunState.STOPPED, RunState.IDLE):
            self._state = RunState.STOPPED
            return
        self._state = RunState.STOPPING
        self._stop_requested.set()
        try:
            self._supervisor.stop(timeout)
            self.source.close(timeout)
        finally:
            for _ in self._workers:
                self._queue.put(_STOP)
            for worker in self._workers:
                worker.join(timeout)
            self._conclude()
            self.writer.call(lambda store: None, timeout)  # barrier: writes before it are done
            self._state = RunState.STOPPED

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- source side --------------------------------------------------------------------
    def _enqueue(self, item: Frame | FrameFailure) -> None:
        """Sink handed to the source: blocks while the queue is full (backpressure)."""
        stamped = (item, time.perf_counter())
        while True:
            try:
                self._queue.put(stamped, timeout=0.2)
                break
            except queue.Full:
                if self._stop_requested.is_set():
                    uri = item.uri if isinstance(item, FrameFailure) else item.meta.uri
                    log.warning("stopping: %s not queued; it will be picked up on restart", uri)
                    return
        with self._lock:
            self._counts["received"] += 1

    # --- worker side --------------------------------------------------------------------
    def _next_batch(self) -> list | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # leave it for this worker's next round
                break
            batch.append(item)
        with self._lock:
            self._counts["in_flight"] += len(batch)
        return batch

    def _work(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._handle_batch(batch)
            except Exception:  # a bug must not stop the run; account for every item
                log.exception("unexpected error handling a batch of %d", len(batch))
                for _, received in batch:
                    self._finish(received, None)

    def _handle_batch(self, batch: list[tuple[Frame | FrameFailure, float]]) -> None:
        """Failures are stored, duplicates skipped, the rest analysed in one batched call."""
        todo: list[tuple[Frame, float]] = []
        reader = self.writer.reader()
        for item, received in batch:
            if isinstance(item, FrameFailure):
                self._store_failure(item, received)
            elif reader.is_processed(item.meta.uri, item.sha):
                self._bump("duplicates")
                self.events.frame_skipped.emit(item.meta.uri)
                self._finish(received, None)
            else:
                todo.append((item, received))
        if not todo:
            return
        try:
            results = self.analyser.analyse_batch([f for f, _ in todo], self.plate)
        except Exception as exc:
            if len(todo) == 1:
                self._analysis_failed(*todo[0], exc)
                return
            log.debug("batch analysis failed; analysing one by one", exc_info=True)
            for one in todo:
                self._handle_batch([one])
            return
        for (_, received), result in zip(todo, results, strict=True):
            alerts = self._evaluate(result)
            future = self.writer.write(result_entry(result, alerts))
            future.add_done_callback(
                lambda f, r=result, a=alerts, t=received: self._stored(f, r, a, t))

    def _analysis_failed(self, frame: Frame, received: float, exc: Exception) -> None:
        log.debug("analysis failed for %s", frame.meta.uri, exc_info=True)
        reason = f"analysis failed: {type(exc).__name__}: {exc}"
        self._store_failure(FrameFailure(frame.meta.uri, reason, frame.sha), received, frame)

    def _evaluate(self, result: FrameResult) -> list[Alert]:
        well = result.meta.well
        expected = self.plate.expected(well) if self.plate is not None and well else None
        now = self.clock()
        alerts: list[Alert] = []
        for rule in self.rules:
            alerts.extend(rule.evaluate(result, expected, now))
        return alerts

    def _store_failure(
        self, failure: FrameFailure, received: float, frame: Frame | None = None
    ) -> None:
        meta = frame.meta if frame is not None else None
        future = self.writer.write(failure_entry(failure, meta))

        def done(f: Future) -> None:
            if f.exception() is None:
                self._bump("failed")
                self.events.frame_failed.emit(failure)
            self._finish(received, f)

        future.add_done_callback(done)

    def _stored(self, f: Future, result: FrameResult, alerts: list[Alert], received: float) -> None:
        outcome: WriteOutcome | None = f.result() if f.exception() is None else None
        if outcome is not None and outcome.status == "failed":  # a value the store cannot hold
            self._bump("failed")
            self.events.frame_failed.emit(
                FrameFailure(result.meta.uri, outcome.reason or "", result.sha))
        elif outcome is not None and (outcome.where != "db" or outcome.frame_id is not None):
            self._bump("processed")
            self._bump("alerts", len(alerts))
            self.events.frame_processed.emit(result)
            for alert in alerts:
                self.events.alert_raised.emit(alert)
        elif f.exception() is None:
            self._bump("duplicates")
        self._finish(received, f)

    def _bump(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _finish(self, received: float, future: Future | None) -> None:
        now = time.perf_counter()
        with self._lock:
            self._counts["in_flight"] -= 1
            if future is not None and future.exception() is None:
                self._latencies.append((now - received) * 1e3)
                self._done_times.append(now)

    def _conclude(self) -> None:
        """At the end of a run: the alerts rules held back for evidence that will not come
        (``rule.conclude(now)``, e.g. a well imaged once whose only frame is empty)."""
        now = self.clock()
        for rule in self.rules:
            conclude = getattr(rule, "conclude", None)
            if conclude is None:
                continue
            try:
                alerts = conclude(now)
            except Exception:  # a bug must not lose the run's stored results
                log.exception("rule %s failed to conclude", getattr(rule, "name", rule))
                continue
            for alert in alerts:
                future = self.writer.write(alert_entry(alert))
                future.add_done_callback(
                    lambda f, a=alert: f.exception() is None and self.events.alert_raised.emit(a))

    def report_source_event(self, message: str, label: str, severity: Severity) -> None:
        """A ``source`` alert: the source failed, was restarted, or lost frames."""
        alert = Alert(kind="source", severity=severity, message=f"{self.source.name}: {message}",
                      uri="", plate_id=None, well=None, raised_at=self.clock(), label=label)
        future = self.writer.write(alert_entry(alert))
        future.add_done_callback(
            lambda f: f.exception() is None and self.events.alert_raised.emit(alert))

    def report_engine_event(self, event: Any) -> None:
        """Turn an engine's runtime event (e.g. TensorRT fell back to ONNX Runtime) into an
        alert that is stored and emitted like any other."""
        alert = Alert(
            kind="engine", severity=Severity.WARNING, message=f"{event.engine}: {event.message}",
            uri="", plate_id=None, well=None, raised_at=self.clock(), label=event.kind,
        )
        future = self.writer.write(alert_entry(alert))
        future.add_done_callback(
            lambda f: f.exception() is None and self.events.alert_raised.emit(alert))

    def _store_health(self, health: StoreHealth) -> None:
        """A ``store`` alert when writing stops working, and a note when it works again."""
        with self._lock:
            was_ok, self._store_ok = self._store_ok, health.ok
        if was_ok != health.ok:
            alert = store_alert(health, self.clock(), recovered=health.ok)
            if health.ok:  # the problem went away: its open alert is closed, with a note
                self.writer.submit(lambda store: store.dismiss_open_alerts(
                    "store", note=alert.message, at=alert.raised_at))
            self.writer.write(alert_entry(alert))
            self.events.alert_raised.emit(alert)

    # --- status -------------------------------------------------------------------------
    def status(self) -> PipelineStatus:
        with self._lock:
            counts = dict(self._counts)
            latencies = sorted(self._latencies)
            times = list(self._done_times)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        fps = (len(times) - 1) / span if span > 0 else 0.0
        return PipelineStatus(
            state=self._state, received=counts["received"], processed=counts["processed"],
            failed=counts["failed"], duplicates=counts["duplicates"], alerts=counts["alerts"],
            queue_depth=self._queue.qsize(), frames_per_s=fps,
            latency_ms_median=statistics.median(latencies) if latencies else None,
            latency_ms_p99=p99(latencies) if latencies else None,
            source=self.source.counts(), store=self.writer.health().text(),
            unwritten=self.writer.health().unwritten,
        )
