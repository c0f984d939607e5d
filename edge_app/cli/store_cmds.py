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


@app.command()
def status(db: DbOption = Path("sentinel.sqlite")) -> None:
    """Summarise a store: frames processed and failed, open alerts by kind.

    Example: sentinel status --db sentinel.sqlite
    """

    def body() -> None:
        store = _open(db)
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

