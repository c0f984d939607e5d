"""The heartbeat: a small JSON file beside the store, rewritten every few seconds by a live
run, that ``sentinel status`` (and ``python3 -m installer service status``) read.

``<store>.heartbeat.json`` holds the last frame, the last write, the queue depth, the source
state and the store's state. It is replaced atomically (``os.replace`` of a fsynced temporary
file), so a reader sees the previous or the next heartbeat, never half of one. A file is used
rather than a table so a locked or full database cannot stop the heartbeat that reports it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUFFIX = ".heartbeat.json"
VERSION = 1
INTERVAL_S = 5.0
#: A heartbeat older than this many intervals means the run is gone (or hung).
STALE_INTERVALS = 3


def heartbeat_path(db: Path) -> Path:
    """``run.sqlite`` -> ``run.sqlite.heartbeat.json`` (same folder)."""
    db = Path(db)
    return db.with_name(db.name + SUFFIX)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a fsynced temporary file and ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    """The heartbeat at ``path``; ``None`` when there is none or it cannot be parsed."""
    try:
        beat = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return beat if isinstance(beat, dict) and "written_at" in beat else None


def source_state(source: Any) -> dict[str, Any]:
    """``state`` (one line), ``alive`` and the latest ``error`` of a source: from its optional
    ``health()`` (:class:`~edge_app.sources.base.SourceHealth`), else finished / running."""
    try:
        health = getattr(source, "health", None)
        if callable(health):
            h = health()
            return {"state": str(h.state), "alive": bool(h.alive), "error": h.error,
                    "errors": int(h.errors)}
        return {"state": "finished" if source.wait(0) else "running", "alive": True,
                "error": None, "errors": 0}
    except Exception as exc:  # a broken source must not stop the heartbeat that reports it
        return {"state": "unknown", "alive": False, "error": f"{type(exc).__name__}: {exc}",
                "errors": 1}


class HeartbeatWriter:
    """Rewrites the heartbeat of ``pipeline`` every ``interval_s`` on its own thread.

    ``pipeline`` needs ``status()``, ``source`` and ``events`` (frame_processed and
    frame_failed are emitted once the store took the frame: that is the last write).
    """

    def __init__(self, path: Path, pipeline: Any, *, interval_s: float | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.path, self.pipeline = Path(path), pipeline
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self.clock = clock
        self.started_at = clock()
        self._last_frame: dict[str, Any] | None = None
        self._last_write: datetime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        self.pipeline.events.frame_processed.connect(self._stored)
        self.pipeline.events.frame_failed.connect(self._failed)
        self.beat()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write a last heartbeat (the run's final state)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 5)
        self.pipeline.events.frame_processed.disconnect(self._stored)
        self.pipeline.events.frame_failed.disconnect(self._failed)
        self.beat()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.beat()

    def _stored(self, result: Any) -> None:
        self._note(result.meta.uri, result.meta.well, "stored")

    def _failed(self, failure: Any) -> None:
        self._note(failure.uri, None, f"failed: {failure.reason}")

    def _note(self, uri: str, well: str | None, outcome: str) -> None:
        now = self.clock()
        with self._lock:
            self._last_frame = {"uri": uri, "well": well, "outcome": outcome,
                                "at": now.isoformat()}
            self._last_write = now

    def snapshot(self) -> dict[str, Any]:
        """The heartbeat as a JSON-ready dict."""
        status = self.pipeline.status()
        counts = status.source
        with self._lock:
            last_frame, last_write = self._last_frame, self._last_write
        return {
            "version": VERSION, "pid": os.getpid(), "host": socket.gethostname(),
            "written_at": self.clock().isoformat(), "started_at": self.started_at.isoformat(),
            "interval_s": self.interval_s, "state": str(status.state),
            "source": {"name": self.pipeline.source.name,
                       **source_state(self.pipeline.source), "seen": counts.seen,
                       "emitted": counts.emitted, "failed": counts.failed,
                       "skipped_known": counts.skipped_known},
            "queue_depth": status.queue_depth, "received": status.received,
            "processed": status.processed, "failed": status.failed,
            "duplicates": status.duplicates, "alerts": status.alerts,
            "frames_per_s": round(status.frames_per_s, 3),
            "last_frame": last_frame,
            "last_write_at": last_write.isoformat() if last_write else None,
            "store": getattr(status, "store", "ok"), "unwritten": getattr(status, "unwritten", 0),
        }

    def beat(self) -> None:
        """Write one heartbeat; a failure is logged once per outage, never raised."""
        try:
            write_atomic(self.path, json.dumps(self.snapshot(), indent=1))
        except Exception as exc:  # the heartbeat must never stop the run it reports on
            if not self._failing:
                log.warning("heartbeat %s not written: %s", self.path, exc)
            self._failing = True
        else:
            if self._failing:
                log.warning("heartbeat %s written again", self.path)
            self._failing = False


def _ago(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never"
    try:
        seconds = (now - datetime.fromisoformat(iso)).total_seconds()
    except (TypeError, ValueError):
        return f"at {iso!r}"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.1f} h ago"


def describe(beat: dict[str, Any], now: datetime) -> list[str]:
    """Lines for ``sentinel status``: how old the heartbeat is and what it says."""
    age = _ago(beat.get("written_at"), now)
    try:
        seconds = (now - datetime.fromisoformat(beat["written_at"])).total_seconds()
    except (TypeError, ValueError):
        seconds = float("inf")
    interval = float(beat.get("interval_s") or INTERVAL_S)
    state = beat.get("state", "?")
    live = state == "running" and seconds <= STALE_INTERVALS * interval
    if live:
        head = f"live run: heartbeat {age} (pid {beat.get('pid')} on {beat.get('host')})"
    elif state == "running":
        head = (f"NOT RUNNING: last heartbeat {age} (pid {beat.get('pid')} on "
                f"{beat.get('host')}); it stopped without closing: check the service and logs/")
    else:
        head = f"no live run: the last run ended ({state}) {age}"
    source = beat.get("source") or {}
    frame = beat.get("last_frame") or {}
    where = f" ({frame['well']})" if frame.get("well") else ""
    last = (f"{frame.get('uri')}{where} {frame.get('outcome')}, {_ago(frame.get('at'), now)}"
            if frame else "none yet")
    dead = "" if source.get("alive", True) else " THREAD DIED (restarted by the pipeline)"
    error = f"; last error: {source['error']}" if source.get("error") else ""
    return [
        head,
        f"  source: {source.get('name')} {source.get('state')}{dead}; seen "
        f"{source.get('seen')}, emitted {source.get('emitted')}, failed {source.get('failed')}"
        f"{error}",
        f"  last frame: {last}",
        f"  last write: {_ago(beat.get('last_write_at'), now)}; store {beat.get('store')}"
        + (f", {beat.get('unwritten')} unwritten" if beat.get("unwritten") else ""),
        f"  queue depth: {beat.get('queue_depth')}; frames/s {beat.get('frames_per_s')}; "
        f"processed {beat.get('processed')}, failed {beat.get('failed')}",
    ]
