"""Rows of the store built from pipeline values, checked before any write.

A write is an *entry*: a plain JSON-able dict (``kind`` ``frame`` or ``alert``) holding the
rows of one transaction. Entries are what the writer retries and what the spool keeps, so a
frame's result survives a locked database or a full disk without the objects that made it.

Every value is checked against what SQLite can hold (64-bit integers, UTF-8 text); a frame
whose metadata cannot be stored (a site of 10^22 from a file name) becomes a failed frame
with the reason, never an exception in the writer.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from edge_app.core.frames import FrameFailure, FrameMeta
from edge_app.core.results import Alert, FrameResult
from engines.morphometry import SHAPE_FEATURES

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Entry = dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def safe_text(text: str | None) -> str | None:
    """``text`` as SQLite can store it: undecodable file-name bytes (surrogate escapes) are
    written as ``\\xNN``, the same way every time, so look-ups by URI still match."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace")
    return text


def _plain(value: Any) -> Any:
    """numpy scalars and other number-likes as Python values SQLite can bind."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value


def frame_row(meta: FrameMeta, sha: str, status: str, reason: str | None) -> dict[str, Any]:
    return {
        "uri": meta.uri, "sha": sha, "size": meta.extra.get("size", -1),
        "mtime_ns": meta.extra.get("mtime_ns", -1), "plate_id": meta.plate_id,
        "well": meta.well, "site": meta.site, "hours": meta.hours,
        "timepoint_index": meta.timepoint_index, "acquired_at": _iso(meta.acquired_at),
        "status": status, "reason": reason, "stored_at": time.time(),
    }


def result_row(result: FrameResult) -> dict[str, Any]:
    """The ``results`` row of a processed frame (``frame_id`` is set at write time)."""
    row: dict[str, Any] = {
        "segmenter": result.segmenter, "width": result.width, "height": result.height,
        "dtype": result.dtype, "quality": ",".join(q.value for q in result.quality),
        "usable": int(result.usable), "focus": result.focus, "n_objects": result.n_objects,
        "latency_ms": sum(result.timings_ms.values()),
        "timings": json.dumps(result.timings_ms),
    }
    shape = result.shape.as_dict() if result.shape else dict.fromkeys(SHAPE_FEATURES)
    row.update(shape)
    if result.predictions is not None:
        row["predictions"] = json.dumps(result.predictions)
    if result.forecast is not None:
        row.update(forecast_area_ratio=result.forecast.area_ratio,
                   forecast_ssim=result.forecast.ssim,
                   forecast_error=None if result.forecast.ssim is None
                   else 1.0 - result.forecast.ssim)
    return row


def alert_row(alert: Alert) -> dict[str, Any]:
    return {
        "plate_id": alert.plate_id, "well": alert.well, "kind": alert.kind,
        "severity": alert.severity.value, "label": alert.label, "expected": alert.expected,
        "observed": alert.observed, "message": alert.message,
        "raised_at": alert.raised_at.isoformat(), "state": alert.state.value,
        "updated_at": alert.raised_at.isoformat(),
        "evidence": None if alert.evidence is None else json.dumps(alert.evidence),
    }


def clean(row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``row`` with bindable values, and the fields SQLite cannot hold (set to ``None``)."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in row.items():
        value = _plain(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not INT64_MIN <= value <= INT64_MAX:
                problems.append(f"{key} {value} is out of range (at most {INT64_MAX})")
                value = None
        elif isinstance(value, str):
            value = safe_text(value)
        elif value is not None and not isinstance(value, float):
            problems.append(f"{key} of type {type(value).__name__} cannot be stored")
            value = None
        out[key] = value
    return out, problems


def _failed(frame: dict[str, Any], reason: str) -> Entry:
    return {"kind": "frame", "frame": {**frame, "status": "failed", "reason": reason},
            "result": None, "alerts": []}


def result_entry(result: FrameResult, alerts: Sequence[Alert] = ()) -> Entry:
    """The entry of a processed frame; a failed-frame entry when a value cannot be stored."""
    frame = frame_row(result.meta, result.sha, "processed", None)
    frame["hours"] = result.hours
    frame, problems = clean(frame)
    row, more = clean(result_row(result))
    cleaned = [clean(alert_row(a)) for a in alerts]
    problems += more + [p for _, found in cleaned for p in found]
    if problems:
        return _failed(frame, "invalid value: " + "; ".join(problems))
    return {"kind": "frame", "frame": frame, "result": row, "alerts": [a for a, _ in cleaned]}


def failure_entry(failure: FrameFailure, meta: FrameMeta | None = None) -> Entry:
    """The entry of a frame that could not be processed, with its reason."""
    meta = meta or FrameMeta(
        uri=failure.uri, extra={"size": failure.size, "mtime_ns": failure.mtime_ns})
    frame, problems = clean(frame_row(meta, failure.sha, "failed", failure.reason))
    if problems:
        frame["reason"] = f"{failure.reason}; invalid value: " + "; ".join(problems)
    return {"kind": "frame", "frame": frame, "result": None, "alerts": []}


def alert_entry(alert: Alert) -> Entry:
    """The entry of an alert that belongs to no frame; its key makes a replay idempotent."""
    row, _ = clean(alert_row(alert))
    return {"kind": "alert", "key": uuid.uuid4().hex, "alert": row}


def refused(entry: Entry, error: BaseException) -> Entry:
    """A failed-frame entry for a frame SQLite refused (a value it cannot hold)."""
    if entry.get("kind") != "frame":
        raise ValueError(f"the store refused an alert: {error}") from error
    frame = dict.fromkeys(entry["frame"]) | {
        k: entry["frame"][k] for k in ("uri", "sha", "size", "mtime_ns", "stored_at")}
    frame, _ = clean(frame)
    return _failed(frame, f"the store cannot hold this frame's values: {error}")
