"""``sentinel status`` and ``sentinel export``: read the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_app.cli import app, run_command
from edge_app.cli.output import print_summary

DbOption = Annotated[Path, typer.Option("--db", help="SQLite store written by 'watch'.")]


def _open(db: Path):
    from edge_app.store import Store, StoreError

    if not db.exists():
        raise StoreError(f"no store at {db}; run 'sentinel watch' first or check --db")
    return Store(db, readonly=True)


def _print_heartbeat(db: Path) -> None:
    """The live run's heartbeat beside the store: its age, last frame and write, queue."""
    from datetime import UTC, datetime

    from edge_app.service.heartbeat import describe, heartbeat_path, read_heartbeat

    path = heartbeat_path(db)
    beat = read_heartbeat(path)
    if beat is None:
        typer.echo(f"no heartbeat ({path.name}): no live run has written to this store")
        return
    for line in describe(beat, datetime.now(UTC)):
        typer.echo(line)


@app.command()
def status(
    db: Annotated[Path | None, typer.Option(
        "--db", help="SQLite store written by 'watch' (default: store.path of --config, "
        "else sentinel.sqlite).")] = None,
    config: Annotated[Path | None, typer.Option(help="Settings TOML (the service's).")] = None,
) -> None:
    """The live run's heartbeat (last frame, last write, queue depth, source state), then the
    store: frames processed and failed, open alerts by kind.

    Example: sentinel status --db sentinel.sqlite

    Example: sentinel status --config sentinel.toml
    """

    def body() -> None:
        from edge_app.settings import load_settings

        path = db if db is not None else load_settings(config).store.path
        _print_heartbeat(path)
        store = _open(path)
        try:
            print_summary(store.summary())
        finally:
            store.close()

    run_command(body)


@app.command()
def export(
    db: DbOption = Path("sentinel.sqlite"),
    csv: Annotated[Path | None, typer.Option(
        "--csv", help="CSV of frames to write (default frames.csv when nothing else is asked).")]
    = None,
    alerts: Annotated[Path | None, typer.Option(
        "--alerts", help="CSV of alerts with their reviews (who, when, note).")] = None,
    labels: Annotated[Path | None, typer.Option(
        "--reviews-as-labels",
        help="CSV of reviewed frames with the labels a person confirmed (trainer folder: data).")]
    = None,
) -> None:
    """Export one row per frame (metadata, status, shape descriptors) to CSV; alerts with
    their reviews; reviewed frames as training labels.

    Example: sentinel export --db sentinel.sqlite --csv frames.csv

    Example: sentinel export --db sentinel.sqlite --alerts alerts.csv --reviews-as-labels labels.csv
    """

    def body() -> None:
        from edge_app.store.reviews import export_alerts_csv, export_review_labels_csv

        frames = csv or (Path("frames.csv") if alerts is None and labels is None else None)
        store = _open(db)
        try:
            if frames is not None:
                typer.echo(f"wrote {store.export_csv(frames)} rows to {frames}")
            if alerts is not None:
                typer.echo(f"wrote {export_alerts_csv(store, alerts)} alerts to {alerts}")
            if labels is not None:
                n = export_review_labels_csv(store, labels)
                typer.echo(f"wrote {n} reviewed frames with labels to {labels}")
        finally:
            store.close()

    run_command(body)

