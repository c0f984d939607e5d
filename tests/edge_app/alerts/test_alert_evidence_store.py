"""The alert's evidence survives the store: migration 0004 and the JSON column."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from edge_app.core.results import Alert, Severity
from edge_app.store.database import Store

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def test_evidence_is_stored_as_json(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    evidence = {"e_value": 40.2, "n_frames": 3, "sources": ["replicate"],
                "looks_like": {"value": "RPMI", "wells": ["B1"]}, "own_group": ["C1"],
                "frames": [{"frame_id": None, "uri": "x", "p_replicate": 0.03, "p_ipp": None,
                            "e": 5.1}]}
    with_evidence = Alert(kind="protocol", severity=Severity.CRITICAL, message="m", uri="x",
                          plate_id="P", well="C10", raised_at=NOW, label="culture_medium",
                          expected="DMEMLG", observed="RPMI", evidence=evidence)
    plain = Alert(kind="quality", severity=Severity.WARNING, message="q", uri="x",
                  plate_id="P", well="C11", raised_at=NOW)
    store.record_alert(with_evidence)
    store.record_alert(plain)
    rows = {r["well"]: r for r in store.alerts()}
    assert json.loads(rows["C10"]["evidence"]) == evidence
    assert rows["C11"]["evidence"] is None
    names = {r["name"] for r in store.db.table("_migrations").rows}
    assert "0004_alert_evidence" in names
    store.close()
