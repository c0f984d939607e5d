"""The alert review workflow on the store: queries, decisions and exports.

Alerts move ``open -> acknowledged -> confirmed | dismissed``; every decision is a row in
``reviews`` (reviewer, note, time), so it survives restarts and is exported as data. The CLI
(``sentinel alerts``, ``sentinel export --alerts``) and the dashboard share these functions.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_app.core.results import AlertState
from edge_app.store.database import Store, StoreError

log = logging.getLogger(__name__)

SEVERITY_RANK = {"info": 1, "warning": 2, "critical": 3}
# Where a decision may lead. A decided alert may be re-decided (people change their minds),
# but never reopened: the history in ``reviews`` keeps every step.
TRANSITIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"acknowledged", "confirmed", "dismissed"}),
    "acknowledged": frozenset({"confirmed", "dismissed"}),
    "confirmed": frozenset({"dismissed"}),
    "dismissed": frozenset({"confirmed"}),
}
ACTION_STATES = {"ack": AlertState.ACKNOWLEDGED, "acknowledge": AlertState.ACKNOWLEDGED,
                 "confirm": AlertState.CONFIRMED, "dismiss": AlertState.DISMISSED}


class ReviewError(StoreError):
    """A review decision that the workflow does not allow (the message says which are)."""


@dataclass(frozen=True)
class AlertQuery:
    """Filters of the alert list; ``None`` means any."""

    state: str | None = None
    well: str | None = None
    severity: str | None = None
    label: str | None = None
    kind: str | None = None
    limit: int | None = None


def default_reviewer() -> str:
    """The login name, or ``"unknown"`` where the OS does not tell."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def has_column(store: Store, table: str, column: str) -> bool:
    """True when ``table`` has ``column`` (later migrations may not have run on this store)."""
    rows = store.db.execute(f"PRAGMA table_info({table})").fetchall()
    return any(row[1] == column for row in rows)


def parse_evidence(text: Any) -> dict[str, Any]:
    """An alert's evidence JSON as a dict; ``{}`` when missing or unreadable."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        log.debug("unreadable evidence %r", text)
        return {}
    return value if isinstance(value, dict) else {}


def _alert_sql(query: AlertQuery, evidence: bool) -> tuple[str, list[Any]]:
    where, params = [], []
    for column in ("state", "well", "severity", "label", "kind"):
        value = getattr(query, column)
        if value:
            where.append(f"a.{column} = ?")
            params.append(value.upper() if column == "well" else value)
    last = ("(select {col} from reviews r where r.alert_id = a.id order by r.id desc limit 1)")
    sql = (
        "select a.*, " + ", ".join(f"{last.format(col=c)} as review_{c}"
                                   for c in ("reviewer", "note", "at"))
        + ("" if evidence else ", null as evidence")
        + " from alerts a" + (" where " + " and ".join(where) if where else "")
        # plate notices (no well) pinned on top, then newest first
        + " order by (a.kind = 'notice' and a.well is null) desc, a.id desc"
    )
    if query.limit:
        sql += f" limit {int(query.limit)}"
    return sql, params


def list_alerts(store: Store, query: AlertQuery | None = None) -> list[dict[str, Any]]:
    """Alerts with their latest review, notices first, then newest first.

    Each row has the ``alerts`` columns, ``review_reviewer/note/at`` and ``evidence`` parsed
    into a dict (``{}`` when the store has no evidence column or the alert none).
    """
    sql, params = _alert_sql(query or AlertQuery(), has_column(store, "alerts", "evidence"))
    rows = []
    for row in store.db.query(sql, params):
        row["evidence"] = parse_evidence(row.get("evidence"))
        rows.append(row)
    return rows


def get_alert(store: Store, alert_id: int) -> dict[str, Any]:
    row = store.db.execute("select state from alerts where id = ?", [alert_id]).fetchone()
    if row is None:
        raise ReviewError(f"no alert with id {alert_id}; list them with 'sentinel alerts list'")
    return {"id": alert_id, "state": row[0]}


def review(store: Store, alert_id: int, state: AlertState | str, *, reviewer: str = "",
           note: str = "", at: datetime | None = None) -> str:
    """Record a decision on one alert; return the state it left.

    Raises:
        ReviewError: no such alert, or the workflow does not allow the move.
    """
    target = AlertState(state)
    current = get_alert(store, alert_id)["state"]
    allowed = TRANSITIONS.get(current, frozenset())
    if target.value not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing"
        raise ReviewError(
            f"alert {alert_id} is {current}; it can become {options}, not {target.value}")
    store.review_alert(alert_id, target, reviewer=reviewer, note=note, at=at)
    return str(current)


def reviews_of(store: Store, alert_id: int) -> list[dict[str, Any]]:
    return list(store.db.query("select * from reviews where alert_id = ? order by id", [alert_id]))


def alert_export_rows(store: Store) -> list[dict[str, Any]]:
    """One row per alert with its review history (``reviews`` as JSON, oldest first)."""
    history: dict[int, list[dict[str, Any]]] = {}
    for r in store.db.query("select * from reviews order by id"):
        history.setdefault(int(r["alert_id"]), []).append(
            {"state": r["state"], "reviewer": r["reviewer"], "note": r["note"], "at": r["at"]})
    rows = []
    for row in sorted(list_alerts(store), key=lambda r: r["id"]):
        steps = history.get(int(row["id"]), [])
        row["evidence"] = json.dumps(row["evidence"]) if row["evidence"] else ""
        row["n_reviews"] = len(steps)
        row["reviews"] = json.dumps(steps)
        rows.append(row)
    return rows


def write_csv(rows: Iterable[dict[str, Any]], path: str | Path, empty_columns: list[str]) -> int:
    rows = list(rows)
    columns = list(dict.fromkeys(c for row in rows for c in row)) if rows else empty_columns
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def export_alerts_csv(store: Store, path: str | Path) -> int:
    """Write :func:`alert_export_rows` to CSV; return the number of alerts."""
    return write_csv(alert_export_rows(store), path, ["id", "well", "kind", "state", "reviews"])


def review_label_rows(store: Store) -> list[dict[str, Any]]:
    """Each reviewed frame with the labels a person stands behind (trainer ``folder:`` CSV).

    A confirmed protocol alert means the plate map was wrong for that label: the frame gets
    the value the engine saw. A dismissed one means the plate map was right. Only decided
    protocol alerts with a label and a frame count; columns: ``file``, one per label,
    ``hours``.
    """
    sql = (
        "select a.frame_id, a.label, a.observed, a.state, f.uri, f.hours, w.labels "
        "from alerts a join frames f on f.id = a.frame_id "
        "left join wells w on w.plate_id = a.plate_id and w.well = a.well "
        "where a.kind = 'protocol' and a.label is not null and a.state in (?, ?) "
        "order by a.frame_id, a.id"
    )
    frames: dict[int, dict[str, Any]] = {}
    for row in store.db.query(sql, [AlertState.CONFIRMED.value, AlertState.DISMISSED.value]):
        entry = frames.setdefault(int(row["frame_id"]), {
            "file": row["uri"], **json.loads(row["labels"] or "{}"), "hours": row["hours"]})
        if row["state"] == AlertState.CONFIRMED.value and row["observed"]:
            entry[row["label"]] = row["observed"]
    return list(frames.values())


def export_review_labels_csv(store: Store, path: str | Path) -> int:
    return write_csv(review_label_rows(store), path, ["file", "hours"])
