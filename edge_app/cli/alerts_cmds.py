"""``sentinel alerts list|ack|confirm|dismiss``: review alerts from the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_app.cli import app, run_command

alerts_app = typer.Typer(help="List and review alerts (open -> acknowledged -> confirmed | "
                              "dismissed).", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")

DbOption = Annotated[Path, typer.Option("--db", help="SQLite store written by 'watch'.")]
NoteOption = Annotated[str, typer.Option("--note", help="Why (kept with the decision).")]
ReviewerOption = Annotated[str | None, typer.Option(
    "--reviewer", help="Who decides (default: the login name).")]


def _store(db: Path, *, readonly: bool):
    from edge_app.store import Store, StoreError

    if not db.exists():
        raise StoreError(f"no store at {db}; run 'sentinel watch' first or check --db")
    return Store(db, readonly=readonly)


@alerts_app.command("list")
def list_cmd(
    db: DbOption = Path("sentinel.sqlite"),
    state: Annotated[str | None, typer.Option(
        help="open | acknowledged | confirmed | dismissed.")] = None,
    well: Annotated[str | None, typer.Option(help="Only this well, e.g. A1.")] = None,
    severity: Annotated[str | None, typer.Option(help="info | warning | critical.")] = None,
    label: Annotated[str | None, typer.Option(help="Only this label, e.g. culture_medium.")]
    = None,
) -> None:
    """List alerts, plate notices first, then newest first.

    Example: sentinel alerts list --db run.sqlite --state open --well A1
    """

    def body() -> None:
        from edge_app.store.reviews import AlertQuery, list_alerts

        store = _store(db, readonly=True)
        try:
            rows = list_alerts(store, AlertQuery(state=state, well=well, severity=severity,
                                                 label=label))
        finally:
            store.close()
        for row in rows:
            decided = (f"  [{row['review_reviewer'] or '?'}: {row['review_note']}]"
                       if row["review_note"] else "")
            typer.echo(f"{row['id']:>5}  {row['state']:<12} {row['severity']:<8} "
                       f"{row['well'] or 'plate':<5} {row['kind']:<9} {row['message']}{decided}")
        typer.echo(f"{len(rows)} alert(s)")

    run_command(body)


def _decide(db: Path, alert_id: int, action: str, note: str, reviewer: str | None) -> None:
    from edge_app.store.reviews import ACTION_STATES, default_reviewer, review

    state = ACTION_STATES[action]
    who = reviewer or default_reviewer()
    store = _store(db, readonly=False)
    try:
        before = review(store, alert_id, state, reviewer=who, note=note)
    finally:
        store.close()
    typer.echo(f"alert {alert_id}: {before} -> {state.value} ({who})")


@alerts_app.command("ack")
def ack_cmd(alert_id: int, db: DbOption = Path("sentinel.sqlite"), note: NoteOption = "",
            reviewer: ReviewerOption = None) -> None:
    """Acknowledge an alert: someone is looking at it.

    Example: sentinel alerts ack 12 --db run.sqlite --note "checking at the bench"
    """
    run_command(lambda: _decide(db, alert_id, "ack", note, reviewer))


@alerts_app.command("confirm")
def confirm_cmd(alert_id: int, db: DbOption = Path("sentinel.sqlite"), note: NoteOption = "",
                reviewer: ReviewerOption = None) -> None:
    """Confirm an alert: the deviation is real.

    Example: sentinel alerts confirm 12 --db run.sqlite --note "wrong medium in row B"
    """
    run_command(lambda: _decide(db, alert_id, "confirm", note, reviewer))


@alerts_app.command("dismiss")
def dismiss_cmd(alert_id: int, db: DbOption = Path("sentinel.sqlite"), note: NoteOption = "",
                reviewer: ReviewerOption = None) -> None:
    """Dismiss an alert: a false alarm.

    Example: sentinel alerts dismiss 13 --db run.sqlite --note "bubble, spheroid is fine"
    """
    run_command(lambda: _decide(db, alert_id, "dismiss", note, reviewer))
