"""What the dashboard shows, as frozen values built from the store off the GUI thread.

No Qt here: :func:`build_snapshot` reads the store into a :class:`DashboardSnapshot`;
:class:`SnapshotPoller` rebuilds it on its own thread and connection whenever the store
changed, and the window's timer only picks up the newest one (never a query on the GUI thread).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_app.core.wells import well_index
from edge_app.store.reviews import SEVERITY_RANK, AlertQuery, list_alerts

log = logging.getLogger(__name__)

# Labels that define a replicate group (what the lab seeded); replicates and acquisition
# settings do not split a group.
GROUP_LABELS = ("cell_line", "culture_medium", "seeding_density", "formation_method")
FEED_LIMIT = 500


@dataclass(frozen=True)
class WellTile:
    """One well on the plate view."""

    plate_id: str
    well: str
    expected: dict[str, str] = field(default_factory=dict)
    n_frames: int = 0
    latest_hours: float | None = None
    open_alerts: int = 0
    worst: str | None = None  # severity of the worst open alert
    predicted: dict[str, tuple[str, float]] = field(default_factory=dict)

    @property
    def imaged(self) -> bool:
        return self.n_frames > 0

    @property
    def condition(self) -> tuple[str, ...]:
        """The replicate-group key: the plate map's values of :data:`GROUP_LABELS`."""
        return tuple(self.expected.get(k, "") for k in GROUP_LABELS)


@dataclass(frozen=True)
class PlateSnapshot:
    plate_id: str
    tiles: dict[str, WellTile]

    @property
    def format(self) -> int:
        """96 when every well fits rows A-H and columns 1-12, else 384."""
        fits = all(r < 8 and c < 12 for r, c in (well_index(w) for w in self.tiles))
        return 96 if fits else 384

    def groups(self) -> dict[tuple[str, ...], list[str]]:
        """Replicate groups: wells sharing the plate map's condition."""
        out: dict[tuple[str, ...], list[str]] = {}
        for well, tile in self.tiles.items():
            if tile.expected:
                out.setdefault(tile.condition, []).append(well)
        return out


@dataclass(frozen=True)
class AlertRow:
    """One alert in the feed, with its latest review."""

    id: int
    kind: str
    severity: str
    state: str
    message: str
    raised_at: str
    plate_id: str | None = None
    well: str | None = None
    label: str | None = None
    expected: str | None = None
    observed: str | None = None
    frame_id: int | None = None
    reviewer: str | None = None
    note: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def pinned(self) -> bool:
        """Plate notices (no well) sit on top of the feed."""
        return self.kind == "notice" and not self.well

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertRow:
        return cls(
            id=int(row["id"]), kind=row["kind"] or "", severity=row["severity"] or "info",
            state=row["state"] or "open", message=row["message"] or "",
            raised_at=row["raised_at"] or "", plate_id=row["plate_id"], well=row["well"],
            label=row["label"], expected=row["expected"], observed=row["observed"],
            frame_id=row["frame_id"], reviewer=row.get("review_reviewer"),
            note=row.get("review_note"), evidence=row.get("evidence") or {},
        )


@dataclass(frozen=True)
class DashboardSnapshot:
    plates: tuple[PlateSnapshot, ...]
    alerts: tuple[AlertRow, ...]
    failures: tuple[tuple[str, str], ...]  # (uri, reason), newest first
    frames: int
    open_alerts: int
    stamp: tuple[Any, ...]

    def plate(self, plate_id: str | None = None) -> PlateSnapshot | None:
        for plate in self.plates:
            if plate_id is None or plate.plate_id == plate_id:
                return plate
        return None


def change_stamp(store: Any) -> tuple[Any, ...]:
    """Cheap fingerprint of the store's content: changes whenever a frame, alert or review
    is written."""
    row = store.db.execute(
        "select (select max(id) from frames), (select max(id) from alerts), "
        "(select max(id) from reviews), (select count(*) from wells)").fetchone()
    return tuple(row)


def _top(predictions: dict[str, dict[str, float]]) -> dict[str, tuple[str, float]]:
    return {head: max(probs.items(), key=lambda kv: kv[1])
            for head, probs in predictions.items() if probs}


def _well_rows(store: Any) -> dict[tuple[str, str], dict[str, Any]]:
    wells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in store.db.query("select plate_id, well, labels from wells"):
        wells[(r["plate_id"], r["well"])] = {"expected": json.loads(r["labels"] or "{}")}
    for r in store.db.query(
            "select plate_id, well, count(*) as n, max(hours) as h from frames "
            "where status = 'processed' and well is not null group by plate_id, well"):
        wells.setdefault((r["plate_id"] or "", r["well"]), {}).update(
            n_frames=r["n"], latest_hours=r["h"])
    for r in store.db.query(
            "select plate_id, well, severity, count(*) as n from alerts where state = 'open' "
            "and well is not null group by plate_id, well, severity"):
        entry = wells.setdefault((r["plate_id"] or "", r["well"]), {})
        entry["open_alerts"] = entry.get("open_alerts", 0) + r["n"]
        if SEVERITY_RANK.get(r["severity"], 0) > SEVERITY_RANK.get(entry.get("worst") or "", 0):
            entry["worst"] = r["severity"]
    for r in store.db.query(
            "select f.plate_id, f.well, r.predictions from results r join frames f "
            "on f.id = r.frame_id where r.frame_id in (select max(r2.frame_id) from results r2 "
            "join frames f2 on f2.id = r2.frame_id where r2.predictions is not null "
            "group by f2.plate_id, f2.well)"):
        wells.setdefault((r["plate_id"] or "", r["well"]), {})["predicted"] = _top(
            json.loads(r["predictions"]))
    return wells


def build_snapshot(store: Any, previous: DashboardSnapshot | None = None) -> DashboardSnapshot:
    """Read everything the dashboard shows in one pass (a few grouped queries).

    With ``previous``, its alert tuple is reused (same object) when no alert or review was
    written since: a new frame alone does not rebuild the feed.
    """
    stamp = change_stamp(store)
    by_plate: dict[str, dict[str, WellTile]] = {}
    for (plate_id, well), values in sorted(_well_rows(store).items()):
        try:
            well_index(well)
        except ValueError:
            continue
        by_plate.setdefault(plate_id, {})[well] = WellTile(plate_id, well, **values)
    if previous is not None and previous.stamp[1:3] == stamp[1:3]:
        alerts = previous.alerts
    else:
        alerts = tuple(AlertRow.from_row(r)
                       for r in list_alerts(store, AlertQuery(limit=FEED_LIMIT)))
    failures = tuple((r[0], r[1] or "") for r in store.db.execute(
        "select uri, reason from frames where status = 'failed' order by id desc limit 200"))
    counts = store.db.execute(
        "select (select count(*) from frames), "
        "(select count(*) from alerts where state = 'open')").fetchone()
    return DashboardSnapshot(
        plates=tuple(PlateSnapshot(p, tiles) for p, tiles in sorted(by_plate.items())),
        alerts=alerts, failures=failures, frames=int(counts[0]), open_alerts=int(counts[1]),
        stamp=stamp,
    )


class SnapshotPoller:
    """Rebuilds the snapshot on its own thread when the store changed; ``latest()`` is cheap.

    The thread opens its own read-only connection, so the GUI thread never queries.
    """

    def __init__(self, db_path: str | Path, *, period_s: float = 0.25) -> None:
        self.db_path = Path(db_path)
        self.period_s = period_s
        self._latest: DashboardSnapshot | None = None
        self._lock = threading.Lock()
        self._poke = threading.Event()
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="dashboard-snapshot",
                                        daemon=True)

    def start(self) -> SnapshotPoller:
        self._thread.start()
        return self

    def latest(self) -> DashboardSnapshot | None:
        with self._lock:
            return self._latest

    def poke(self) -> None:
        """Rebuild now (after a review decision), not at the next period."""
        self._poke.set()

    def _run(self) -> None:
        from edge_app.store.database import Store, StoreError

        store = None
        stamp: tuple[Any, ...] | None = None
        try:
            while not self._stop.is_set():
                try:
                    store = store or Store(self.db_path, readonly=True)
                    if self._poke.is_set() or change_stamp(store) != stamp:
                        poked = self._poke.is_set()
                        self._poke.clear()
                        snapshot = build_snapshot(store, None if poked else self.latest())
                        stamp = snapshot.stamp
                        with self._lock:
                            self._latest = snapshot
                    self.error = None
                except (StoreError, OSError, ValueError, sqlite3.Error) as exc:
                    self.error = f"cannot read the store: {exc}"
                    log.debug("snapshot failed", exc_info=True)
                self._poke.wait(self.period_s)
        finally:
            if store is not None:
                store.close()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._poke.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


@dataclass(frozen=True)
class FeedFilter:
    """The alert feed's filters; empty means any. Notices are never filtered out by label."""

    severity: str = ""
    state: str = ""
    label: str = ""

    def keep(self, row: AlertRow) -> bool:
        if self.severity and row.severity != self.severity:
            return False
        if self.state and row.state != self.state:
            return False
        return not self.label or row.label == self.label or row.pinned

    def apply(self, rows: tuple[AlertRow, ...]) -> tuple[AlertRow, ...]:
        return tuple(r for r in rows if self.keep(r))
