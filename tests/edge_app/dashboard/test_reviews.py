"""The review workflow in the store (``edge_app.store.reviews``) on a real simulated run."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from edge_app.core.results import Alert, AlertState, Severity
from edge_app.store import Store
from edge_app.store.reviews import (
    AlertQuery,
    ReviewError,
    alert_export_rows,
    export_alerts_csv,
    has_column,
    list_alerts,
    review,
    review_label_rows,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _protocol_alert(store: Store) -> dict:
    """A protocol alert on a real frame of the run (B4's medium looks like row A's)."""
    frame_id = store.db.execute("select id from frames where well = 'B4' and hours = 48"
                                ).fetchone()[0]
    alert_id = store.db.table("alerts").insert({
        "frame_id": frame_id, "plate_id": "plate", "well": "B4", "kind": "protocol",
        "severity": "critical", "label": "culture_medium", "expected": "DMEMLG",
        "observed": "RPMI", "message": "B4: culture_medium looks like RPMI", "state": "open",
        "raised_at": NOW.isoformat(), "updated_at": NOW.isoformat()}).last_pk
    return next(r for r in list_alerts(store) if r["id"] == alert_id)


def test_workflow_moves_forward_and_records_who_and_why(run_db):
    store = Store(run_db)
    try:
        alert_id = list_alerts(store)[0]["id"]
        assert review(store, alert_id, "acknowledged", reviewer="ana", note="looking") == "open"
        review(store, alert_id, AlertState.CONFIRMED, reviewer="ana", note="wrong medium", at=NOW)
        with pytest.raises(ReviewError, match="it can become dismissed, not acknowledged"):
            review(store, alert_id, "acknowledged")
        with pytest.raises(ReviewError, match="no alert with id 999999"):
            review(store, 999999, "confirmed")
    finally:
        store.close()
    reopened = Store(run_db, readonly=True)  # a restart: the decisions are data
    try:
        row = next(r for r in list_alerts(reopened) if r["id"] == alert_id)
        assert row["state"] == "confirmed"
        assert (row["review_reviewer"], row["review_note"]) == ("ana", "wrong medium")
        assert row["review_at"] == NOW.isoformat()
        exported = next(r for r in alert_export_rows(reopened) if r["id"] == alert_id)
        steps = json.loads(exported["reviews"])
        assert [s["state"] for s in steps] == ["acknowledged", "confirmed"]
        assert exported["n_reviews"] == 2
    finally:
        reopened.close()


def test_list_pins_plate_notices_and_filters(run_db):
    store = Store(run_db)
    try:
        n_before = len(list_alerts(store))
        notice = Alert(kind="notice", severity=Severity.WARNING, uri="", plate_id="plate",
                       well=None, raised_at=NOW, message="plate looks out of domain")
        store.record_alert(notice)
        store.record_alert(Alert(kind="engine", severity=Severity.INFO, uri="", plate_id=None,
                                 well=None, raised_at=NOW, message="newest, not a notice"))
        rows = list_alerts(store)
        assert len(rows) == n_before + 2
        pinned = [r for r in rows if r["kind"] == "notice" and r["well"] is None]
        assert rows[:len(pinned)] == pinned  # notices on top, the newest alert below them
        assert "plate looks out of domain" in [r["message"] for r in pinned]
        rest = [r["id"] for r in rows[len(pinned):]]
        assert rest == sorted(rest, reverse=True) and rest[0] == max(r["id"] for r in rows)
        well = next(r["well"] for r in rows if r["well"])
        only = list_alerts(store, AlertQuery(well=well.lower(), state="open"))
        assert only and all(r["well"] == well and r["state"] == "open" for r in only)
        assert all(r["severity"] == "warning"
                   for r in list_alerts(store, AlertQuery(severity="warning")))
    finally:
        store.close()


def test_evidence_is_shown_when_the_column_exists(run_db):
    store = Store(run_db)
    try:
        if not has_column(store, "alerts", "evidence"):
            assert all(r["evidence"] == {} for r in list_alerts(store))
            store.db.execute("alter table alerts add column evidence text")
        first, second = (r["id"] for r in list_alerts(store)[:2])
        evidence = {"e_value": 40.2, "looks_like": {"value": "RPMI", "wells": ["A1"]}}
        store.db.execute("update alerts set evidence = ? where id = ?",
                         [json.dumps(evidence), first])
        store.db.execute("update alerts set evidence = ? where id = ?", ["{not json", second])
        rows = {r["id"]: r for r in list_alerts(store)}
        assert rows[first]["evidence"] == evidence
        assert rows[second]["evidence"] == {}
    finally:
        store.close()


def test_reviews_become_training_labels(run_db, tmp_path):
    store = Store(run_db)
    try:
        alert = _protocol_alert(store)
        review(store, alert["id"], "confirmed", reviewer="ana")
        rows = review_label_rows(store)
        assert len(rows) == 1
        assert rows[0][alert["label"]] == alert["observed"]  # the plate map was wrong
        assert rows[0]["file"].endswith(".tif") and rows[0]["hours"] is not None
        review(store, alert["id"], "dismissed", reviewer="ben", note="changed my mind")
        assert review_label_rows(store)[0][alert["label"]] == alert["expected"]
        n = export_alerts_csv(store, tmp_path / "alerts.csv")
    finally:
        store.close()
    with (tmp_path / "alerts.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == n
    decided = next(r for r in rows if int(r["id"]) == alert["id"])
    assert decided["state"] == "dismissed" and decided["review_note"] == "changed my mind"
