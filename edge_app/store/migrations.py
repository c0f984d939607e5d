"""Named schema migrations, applied in order and recorded in the ``_migrations`` table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlite_utils import Database

from edge_app.store.reacquisitions import add_supersedes_column
from engines.morphometry import SHAPE_FEATURES


def _initial_schema(db: Database) -> None:
    db.table("plates").create(
        {"id": str, "source": str, "seeded_at": str, "n_wells": int, "loaded_at": str}, pk="id"
    )
    db.table("wells").create(
        {"plate_id": str, "well": str, "labels": str, "seeded_at": str, "annotations": str},
        pk=("plate_id", "well"),
    )
    db.table("frames").create(
        {
            "id": int, "uri": str, "sha": str, "size": int, "mtime_ns": int,
            "plate_id": str, "well": str, "site": int, "hours": float, "timepoint_index": int,
            "acquired_at": str, "status": str, "reason": str, "stored_at": float,
        },
        pk="id",
        not_null={"uri", "status"},
    )
    db.table("frames").create_index(["uri", "sha"], unique=True)
    db.table("frames").create_index(["plate_id", "well"])
    columns: dict[str, type] = {
        "frame_id": int, "segmenter": str, "width": int, "height": int, "dtype": str,
        "quality": str, "usable": int, "focus": float, "n_objects": int,
    }
    columns.update({name: float for name in SHAPE_FEATURES})
    columns.update({"latency_ms": float, "timings": str, "predictions": str,
                    "forecast_error": float})
    db.table("results").create(columns, pk="frame_id", foreign_keys=[("frame_id", "frames", "id")])
    db.table("alerts").create(
        {
            "id": int, "frame_id": int, "plate_id": str, "well": str, "kind": str,
            "severity": str, "label": str, "expected": str, "observed": str, "message": str,
            "raised_at": str, "state": str, "updated_at": str,
        },
        pk="id",
        foreign_keys=[("frame_id", "frames", "id")],
    )
    db.table("alerts").create_index(["plate_id", "well"])
    db.table("reviews").create(
        {"id": int, "alert_id": int, "state": str, "reviewer": str, "note": str, "at": str},
        pk="id",
        foreign_keys=[("alert_id", "alerts", "id")],
    )
    db.table("engine_runs").create(
        {
            "id": int, "started_at": str, "stopped_at": str, "source": str, "runtime": str,
            "engines": str, "settings": str, "frames": int, "failures": int,
        },
        pk="id",
    )


def _forecast_columns(db: Database) -> None:
    db.table("results").add_column("forecast_area_ratio", float)
    db.table("results").add_column("forecast_ssim", float)


def _write_keys(db: Database) -> None:
    """Keys of replayed spool entries that have no natural identity (frame-less alerts)."""
    db.table("write_keys").create({"key": str, "written_at": float}, pk="key")


def _alert_evidence(db: Database) -> None:
    """``alerts.evidence``: JSON of what a protocol alert rests on (edge_app.alerts.messages)."""
    db.table("alerts").add_column("evidence", str)


MIGRATIONS: tuple[tuple[str, Callable[[Database], None]], ...] = (
    ("0001_initial_schema", _initial_schema),
    ("0002_forecast_columns", _forecast_columns),
    ("0004_alert_evidence", _alert_evidence),
    ("0005_write_keys", _write_keys),
    ("0006_reacquisitions", add_supersedes_column),
)


def apply_migrations(db: Database) -> list[str]:
    """Apply every migration not yet recorded; return the names applied now."""
    if "_migrations" not in db.table_names():
        db.table("_migrations").create({"name": str, "applied_at": str}, pk="name")
    done = {row["name"] for row in db.table("_migrations").rows}
    applied = []
    for name, migrate in MIGRATIONS:
        if name in done:
            continue
        with db.atomic():
            migrate(db)
            db.table("_migrations").insert(
                {"name": name, "applied_at": datetime.now(UTC).isoformat()}
            )
        applied.append(name)
    return applied
