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
    csv: Annotated[Path, typer.Option("--csv", help="CSV file to write.")] = Path("frames.csv"),
) -> None:
    """Export one row per frame (metadata, status, shape descriptors) to CSV.

    Example: sentinel export --db sentinel.sqlite --csv frames.csv
    """

    def body() -> None:
        store = _open(db)
        try:
            n = store.export_csv(csv)
        finally:
            store.close()
        typer.echo(f"wrote {n} rows to {csv}")

    run_command(body)

