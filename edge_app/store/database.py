"""``Store``: one SQLite database (WAL) opened from a path; every write is one transaction.

A frame's identity is its source URI plus content hash; recording the same frame twice is a
no-op, so a restart after a crash resumes without loss or duplicates.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlite_utils import Database

from edge_app.core.frames import FrameFailure, FrameMeta
from edge_app.core.results import Alert, AlertState, FrameResult
from edge_app.store import rows
from edge_app.store.migrations import apply_migrations
from edge_app.store.reacquisitions import link_reacquisition

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message says what to do."""


def open_error(path: Path, exc: BaseException) -> str:
    """One line that says what to do about a store that cannot be opened or written."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return (f"the store {path} is locked by another process (a database viewer or a "
                "backup?); close it or wait until it finishes, then start again")
    return (f"cannot open the store {path}: {text}. Check the path, or move the file aside "
            "to start a new store.")


class PlateLike(Protocol):
    plate_id: str
    source: str
    seeded_at: datetime | None
    wells: dict[str, Any]

    @property
    def n_wells(self) -> int: ...


@dataclass(frozen=True)
class StoreSummary:
    """Counts for ``sentinel status`` and the end of a run."""

    frames: int
    processed: int
    failed: int
    usable: int
    alerts_open: int
    alerts_by_kind: dict[str, int]
    failures_by_reason: dict[str, int]
    plates: tuple[str, ...]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class Store:
    """The project's database. Use from one thread; :class:`StoreWriter` owns the writes."""

    def __init__(
        self, path: str | Path, *, readonly: bool = False, busy_timeout_ms: int = 5000
    ) -> None:
        self.path = Path(path)
        try:
            if readonly:
                uri = f"file:{self.path.resolve().as_posix()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
                self.db = Database(conn)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Each connection is used by one thread; it may be closed by another.
                self.db = Database(sqlite3.connect(self.path, check_same_thread=False))
                self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous = NORMAL")
                applied = apply_migrations(self.db)
                if applied:
                    log.info("store %s: applied migrations %s", self.path.name, applied)
        except sqlite3.DatabaseError as exc:
            raise StoreError(open_error(self.path, exc)) from None

    def check_writable(self, wait_s: float, *, sleep: Callable[[float], None] = time.sleep) -> None:
        """Take and release the write lock; raise a one-line :class:`StoreError` when another
        process keeps it for ``wait_s`` seconds (a viewer, a backup)."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("ROLLBACK")
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise StoreError(open_error(self.path, exc)) from None
                sleep(0.25)

    def close(self) -> None:
        self.db.close()

    # --- plates -------------------------------------------------------------------------
    def record_plate(self, plate: PlateLike) -> None:
        """Insert or replace a plate map and its wells' expected labels."""
        with self.db.atomic():
            self.db.table("plates").upsert(
                {
                    "id": plate.plate_id, "source": plate.source,
                    "seeded_at": _iso(plate.seeded_at), "n_wells": plate.n_wells,
                    "loaded_at": datetime.now(UTC).isoformat(),
                },
                pk="id",
            )
            self.db.table("wells").upsert_all(
                (
                    {
                        "plate_id": plate.plate_id, "well": w.well,
                        "labels": json.dumps(w.labels), "seeded_at": _iso(w.seeded_at),
                        "annotations": json.dumps(w.annotations),
                    }
                    for w in plate.wells.values()
                ),
                pk=("plate_id", "well"),
            )

    # --- frames -------------------------------------------------------------------------
    def is_known(self, uri: str, size: int, mtime_ns: int) -> bool:
        """True when a frame (or failure) with this URI, size and mtime is recorded.

        ``size < 0`` matches any recorded frame with this URI (NDTiff entries, live frames).
        """
        params: list[Any]
        uri = rows.safe_text(uri) or ""
        if size < 0:
            sql, params = "select 1 from frames where uri = ? limit 1", [uri]
        else:
            sql = "select 1 from frames where uri = ? and size = ? and mtime_ns = ? limit 1"
            params = [uri, size, mtime_ns]
        return self.db.execute(sql, params).fetchone() is not None

    def is_processed(self, uri: str, sha: str) -> bool:
        row = self.db.execute(
            "select 1 from frames where uri = ? and sha = ? and status = 'processed'",
            [rows.safe_text(uri), sha],
        ).fetchone()
        return row is not None

    def _insert_frame(self, row: dict[str, Any]) -> int | None:
        cursor = self.db.execute(
            f"insert or ignore into frames ({', '.join(row)}) "
            f"values ({', '.join('?' for _ in row)})",
            list(row.values()),
        )
        if cursor.rowcount != 1 or cursor.lastrowid is None:
            return None
        link_reacquisition(self.db, cursor.lastrowid, row["uri"])  # same name, new content
        return cursor.lastrowid

    def apply(self, entry: rows.Entry) -> int | None:
        """Write one entry (see :mod:`edge_app.store.rows`) in one transaction.

        Returns the new frame's (or alert's) id, or ``None`` when it was already written:
        a frame with this URI + content hash, or an alert entry with this key.
        """
        with self.db.atomic():
            if entry["kind"] == "alert":
                key = entry.get("key")
                if key is not None:
                    if self.db.execute("select 1 from write_keys where key = ?",
                                       [key]).fetchone():
                        return None
                    self.db.table("write_keys").insert({"key": key, "written_at": time.time()})
                return int(self.db.table("alerts").insert(
                    {"frame_id": None, **entry["alert"]}).last_pk or 0)
            frame_id = self._insert_frame(entry["frame"])
            if frame_id is None:
                return None
            if entry.get("result") is not None:
                self.db.table("results").insert({"frame_id": frame_id, **entry["result"]})
            for alert in entry.get("alerts", ()):
                self.db.table("alerts").insert({"frame_id": frame_id, **alert})
        return frame_id

    def record_result(self, result: FrameResult, alerts: Sequence[Alert] = ()) -> int | None:
        """Store a processed frame, its result and alerts atomically.

        Returns the frame id, or ``None`` when this URI + content hash was already stored.
        A frame whose values the store cannot hold is stored as failed, with the reason.
        """
        return self.apply(rows.result_entry(result, alerts))

    def record_failure(self, failure: FrameFailure, meta: FrameMeta | None = None) -> int | None:
        """Record a frame that could not be processed, with its reason (once per URI + hash)."""
        return self.apply(rows.failure_entry(failure, meta))

    def record_alert(self, alert: Alert) -> int:
        """Store an alert that belongs to no frame (engine events, source problems)."""
        entry = rows.alert_entry(alert)
        entry.pop("key")
        return int(self.apply(entry) or 0)

    # --- review -------------------------------------------------------------------------
    def review_alert(
        self, alert_id: int, state: AlertState, *, reviewer: str = "", note: str = "",
        at: datetime | None = None,
    ) -> None:
        """Move an alert to ``state`` and record who decided and why."""
        when = (at or datetime.now(UTC)).isoformat()
        with self.db.atomic():
            if self.db.execute("select 1 from alerts where id = ?", [alert_id]).fetchone() is None:
                raise StoreError(f"no alert with id {alert_id}")
            self.db.table("alerts").update(alert_id, {"state": state.value, "updated_at": when})
            self.db.table("reviews").insert(
                {"alert_id": alert_id, "state": state.value, "reviewer": reviewer,
                 "note": note, "at": when}
            )

    def dismiss_open_alerts(self, kind: str, *, note: str, at: datetime | None = None) -> int:
        """Close the open alerts of ``kind`` (a problem that went away); return how many."""
        ids = [r[0] for r in self.db.execute(
            "select id from alerts where kind = ? and state = 'open'", [kind])]
        for alert_id in ids:
            self.review_alert(alert_id, AlertState.DISMISSED, reviewer="sentinel", note=note,
                              at=at)
        return len(ids)

    # --- runs ---------------------------------------------------------------------------
    def start_run(self, *, source: str, runtime: str, engines: dict, settings: dict) -> int:
        with self.db.atomic():
            return int(self.db.table("engine_runs").insert({
                "started_at": datetime.now(UTC).isoformat(), "source": source,
                "runtime": runtime, "engines": json.dumps(engines),
                "settings": json.dumps(settings, default=str),
            }).last_pk or 0)

    def finish_run(self, run_id: int, *, frames: int, failures: int) -> None:
        with self.db.atomic():
            self.db.table("engine_runs").update(run_id, {
                "stopped_at": datetime.now(UTC).isoformat(), "frames": frames,
                "failures": failures,
            })

    # --- queries ------------------------------------------------------------------------
    def summary(self) -> StoreSummary:
        def scalar(sql: str) -> int:
            return int(self.db.execute(sql).fetchone()[0] or 0)

        def grouped(sql: str) -> dict[str, int]:
            return {str(k): int(v) for k, v in self.db.execute(sql).fetchall()}

        return StoreSummary(
            frames=scalar("select count(*) from frames"),
            processed=scalar("select count(*) from frames where status = 'processed'"),
            failed=scalar("select count(*) from frames where status = 'failed'"),
            usable=scalar("select count(*) from results where usable = 1"),
            alerts_open=scalar("select count(*) from alerts where state = 'open'"),
            alerts_by_kind=grouped(
                "select kind, count(*) from alerts group by kind order by 2 desc"
            ),
            failures_by_reason=grouped(
                "select reason, count(*) from frames where status = 'failed' "
                "group by reason order by 2 desc"
            ),
            plates=tuple(r[0] for r in self.db.execute("select id from plates order by id")),
        )

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        where = "where state = ?" if state else ""
        params = [state] if state else []
        return list(self.db.query(f"select * from alerts {where} order by id", params))

    def export_rows(self) -> Iterator[dict[str, Any]]:
        """One row per frame: where it came from, its status and its result."""
        result_columns = [c.name for c in self.db.table("results").columns if c.name != "frame_id"]
        return self.db.query(
            "select f.id as frame_id, f.uri, f.sha, f.plate_id, f.well, f.site, f.hours, "
            "f.acquired_at, f.status, f.reason, "
            + ", ".join(f"r.{c}" for c in result_columns)
            + " from frames f left join results r on r.frame_id = f.id order by f.id"
        )

    def export_csv(self, path: str | Path) -> int:
        """Write :meth:`export_rows` to a CSV file; return the number of rows."""
        rows = list(self.export_rows())
        columns = list(rows[0]) if rows else ["frame_id", "uri", "status"]
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return len(rows)
