"""Strict scoring of a run's alerts against a plate's ground truth (the simulator's sidecar).

The scorer reads only the store (``alerts``, ``frames``) and the list of injected deviations;
it knows nothing of how the alerts were decided, so it cannot grade its own homework.

A deviation is *caught* only by an alert in the same plate and well, of the matching kind and
label, naming the right values:

* protocol deviations (``swapped_cell_line`` ...): a ``protocol`` alert on the deviating
  label. Every value the alert names must be right (``expected`` = the plate map's value,
  ``observed`` = the value really seeded), and it must name at least one of them.
* quality deviations: a ``quality`` alert whose ``observed`` issue is the one the deviation
  causes (empty -> ``no_spheroid``, out of focus -> ``out_of_focus``, debris ->
  ``several_objects``).

Every other well-level alert is a false alert, in clean and in deviating wells alike (an
empty well that also reports ``several_objects`` has one catch and one false alert).
``notice`` alerts are plate-level and reported apart; ``engine`` / ``source`` alerts are
operational and only counted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_app.simulation.deviations import DEVIATION_KINDS, Deviation

#: Quality deviation kind -> the quality issue an alert must report.
QUALITY_ISSUES: dict[str, str] = {
    "empty_well": "no_spheroid",
    "out_of_focus": "out_of_focus",
    "debris": "several_objects",
}
#: Alert kinds scored per well; anything else well-level (``growth``) is counted as "other".
SCORED_KINDS = ("protocol", "quality")
PLATE_KINDS = ("notice",)
OPERATIONAL_KINDS = ("engine", "source")


@dataclass(frozen=True)
class StoredAlert:
    """One alert row as the scorer sees it; ``at`` is when it was stored (epoch seconds)."""

    id: int
    frame_id: int | None
    plate_id: str | None
    well: str | None
    kind: str
    label: str
    expected: str
    observed: str
    message: str
    at: float


@dataclass(frozen=True)
class Outcome:
    """One injected deviation and what the run did about it."""

    deviation: Deviation
    caught: bool
    well_frames: int
    frames_to_alert: int | None = None
    latency_s: float | None = None


@dataclass(frozen=True)
class PlateScore:
    """The strict score of one plate."""

    plate_id: str
    wells: tuple[str, ...]
    well_frames: int
    outcomes: tuple[Outcome, ...]
    false_alerts: tuple[StoredAlert, ...]
    notices: tuple[str, ...]
    operational_alerts: int

    @property
    def deviating_wells(self) -> frozenset[str]:
        return frozenset(o.deviation.well for o in self.outcomes)

    @property
    def clean_wells(self) -> tuple[str, ...]:
        return tuple(w for w in self.wells if w not in self.deviating_wells)

    def false_wells(self, kind: str) -> frozenset[str]:
        """Wells with at least one false alert of ``kind`` (``other``: any unscored kind)."""
        if kind == "other":
            return frozenset(a.well for a in self.false_alerts if a.kind not in SCORED_KINDS
                             and a.well)
        return frozenset(a.well for a in self.false_alerts if a.kind == kind and a.well)


def expected_alert(deviation: Deviation) -> tuple[str, str]:
    """``(alert kind, label or quality issue)`` that catches ``deviation``."""
    if deviation.kind in QUALITY_ISSUES:
        return "quality", QUALITY_ISSUES[deviation.kind]
    if DEVIATION_KINDS.get(deviation.kind):
        return "protocol", deviation.label
    raise ValueError(f"unknown deviation kind {deviation.kind!r}; valid: "
                     f"{', '.join(DEVIATION_KINDS)}")


def _key(text: object) -> str:
    return re.sub(r"[^0-9a-z.]", "", str(text).lower())


def same_value(a: object, b: object) -> bool:
    """Equal label values: case and punctuation do not matter, numbers compare as numbers."""
    ka, kb = _key(a), _key(b)
    if re.fullmatch(r"\d+(\.\d+)?", ka) and re.fullmatch(r"\d+(\.\d+)?", kb):
        return float(ka) == float(kb)
    return bool(ka) and ka.replace(".", "") == kb.replace(".", "")


def catches(alert: StoredAlert, deviation: Deviation) -> bool:
    """True when ``alert`` is the strict catch of ``deviation`` (see the module docstring)."""
    if alert.plate_id != deviation.plate_id or alert.well != deviation.well:
        return False
    kind, what = expected_alert(deviation)
    if alert.kind != kind:
        return False
    if kind == "quality":
        return alert.observed == what
    if alert.label != what:
        return False
    named = [(alert.expected, deviation.expected), (alert.observed, deviation.actual)]
    named = [(said, truth) for said, truth in named if said]
    return bool(named) and all(same_value(said, truth) for said, truth in named)


def _epoch(text: str | None) -> float:
    if not text:
        return float("nan")
    return datetime.fromisoformat(text).timestamp()


def read_alerts(store: Any, plate_id: str) -> list[StoredAlert]:
    """The plate's alerts (and frame-less ones) from an open :class:`~edge_app.store.Store`."""
    rows = store.db.query(
        "select a.*, f.stored_at as frame_stored_at from alerts a "
        "left join frames f on f.id = a.frame_id "
        "where a.plate_id = ? or a.plate_id is null order by a.id", [plate_id])
    alerts = []
    for row in rows:
        at = row["frame_stored_at"]
        alerts.append(StoredAlert(
            id=int(row["id"]), frame_id=row["frame_id"], plate_id=row["plate_id"],
            well=row["well"], kind=str(row["kind"] or ""), label=str(row["label"] or ""),
            expected=str(row["expected"] or ""), observed=str(row["observed"] or ""),
            message=str(row["message"] or ""),
            at=float(at) if at is not None else _epoch(row["raised_at"])))
    return alerts


def read_frames(store: Any, plate_id: str) -> dict[str, list[tuple[int, float]]]:
    """Well -> ``[(frame id, stored_at), ...]`` in storage order."""
    frames: dict[str, list[tuple[int, float]]] = {}
    for row in store.db.query("select id, well, stored_at from frames where plate_id = ? "
                              "order by id", [plate_id]):
        frames.setdefault(str(row["well"]), []).append((int(row["id"]), float(row["stored_at"])))
    return frames


def _timing(alert: StoredAlert, frames: list[tuple[int, float]]) -> tuple[int, float | None]:
    """Frames of the well stored up to ``alert``, and seconds from the last of them to it."""
    ids = [f for f, _ in frames]
    if alert.frame_id in ids:
        seen = [(f, t) for f, t in frames if f <= int(alert.frame_id or 0)]
    else:
        seen = [(f, t) for f, t in frames if t <= alert.at]
    if not seen:
        return 0, None
    return len(seen), max(0.0, alert.at - seen[-1][1])


def score_plate(
    store: Any, deviations: Sequence[Deviation], plate_id: str, wells: Iterable[str]
) -> PlateScore:
    """Score the alerts an open store holds for ``plate_id`` against its ``deviations``."""
    alerts = read_alerts(store, plate_id)
    frames = read_frames(store, plate_id)
    by_well = {d.well: d for d in deviations if d.plate_id == plate_id}
    outcomes: list[Outcome] = []
    used: set[int] = set()
    for dev in by_well.values():
        hits = [a for a in alerts if catches(a, dev)]
        used.update(a.id for a in hits)
        well_frames = frames.get(dev.well, [])
        if not hits:
            outcomes.append(Outcome(dev, False, len(well_frames)))
            continue
        first = min(hits, key=lambda a: (a.at, a.id))
        count, latency = _timing(first, well_frames)
        outcomes.append(Outcome(dev, True, len(well_frames), count, latency))
    well_level = [a for a in alerts if a.well and a.plate_id == plate_id
                  and a.kind not in PLATE_KINDS + OPERATIONAL_KINDS]
    return PlateScore(
        plate_id=plate_id, wells=tuple(wells),
        well_frames=sum(len(v) for v in frames.values()),
        outcomes=tuple(outcomes),
        false_alerts=tuple(a for a in well_level if a.id not in used),
        notices=tuple(a.message for a in alerts if a.kind in PLATE_KINDS),
        operational_alerts=sum(a.kind in OPERATIONAL_KINDS for a in alerts),
    )


def score_database(db: Path, deviations: Sequence[Deviation], plate_id: str,
                   wells: Iterable[str]) -> PlateScore:
    """:func:`score_plate` on the SQLite store at ``db`` (opened read-only)."""
    from edge_app.store import Store

    store = Store(db, readonly=True)
    try:
        return score_plate(store, deviations, plate_id, wells)
    finally:
        store.close()
