"""The dashboard's Qt-free values: snapshot, poller, well context, notifier, feed filter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge_app.dashboard.detail import conformal_sets, load_frame_view, well_context
from edge_app.dashboard.notify import CriticalNotifier
from edge_app.dashboard.snapshot import (
    AlertRow,
    FeedFilter,
    SnapshotPoller,
    build_snapshot,
    change_stamp,
)
from edge_app.store import Store
from edge_app.store.reviews import SEVERITY_RANK, review


def test_snapshot_colours_wells_by_their_worst_open_alert(run_db):
    store = Store(run_db, readonly=True)
    try:
        snap = build_snapshot(store)
        open_rows = store.alerts("open")
    finally:
        store.close()
    plate = snap.plate()
    assert plate is not None and plate.format == 96 and len(plate.tiles) == 12
    assert all(t.imaged and t.n_frames == 2 and t.latest_hours == 48.0
               for t in plate.tiles.values())
    assert sorted(map(sorted, plate.groups().values())) == [
        [f"A{c}" for c in range(1, 7)], [f"B{c}" for c in range(1, 7)]]
    for well, tile in plate.tiles.items():
        mine = [a for a in open_rows if a["well"] == well]
        assert tile.open_alerts == len(mine)
        worst = max((a["severity"] for a in mine), key=SEVERITY_RANK.get, default=None)
        assert tile.worst == worst
    assert snap.open_alerts == len(open_rows) and snap.frames == 24


def test_poller_follows_the_store_and_is_poked_by_reviews(run_db, no_thread_leak):
    poller = SnapshotPoller(run_db, period_s=0.05).start()
    try:
        first = _wait_for(lambda: poller.latest())
        store = Store(run_db)
        try:
            review(store, first.alerts[0].id, "dismissed", reviewer="t")
        finally:
            store.close()
        poller.poke()
        later = _wait_for(lambda: (s := poller.latest()) is not first and s)
        decided = next(a for a in later.alerts if a.id == first.alerts[0].id)
        assert decided.state == "dismissed" and decided.reviewer == "t"
        assert later.open_alerts == first.open_alerts - 1
    finally:
        poller.close()


def _wait_for(get, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = get()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


def test_change_stamp_moves_with_every_write(run_db):
    store = Store(run_db)
    try:
        before = change_stamp(store)
        review(store, store.alerts()[0]["id"], "acknowledged")
        assert change_stamp(store) != before
    finally:
        store.close()


def test_well_context_uses_evidence_groups_or_the_plate_map(run_db):
    store = Store(run_db)
    try:
        plate = build_snapshot(store).plate()
        row = AlertRow(id=1, kind="protocol", severity="critical", state="open", message="m",
                       raised_at="", plate_id=plate.plate_id, well="B4", label="culture_medium",
                       expected="DMEMLG", observed="RPMI")
        ctx = well_context(store, plate, "B4", row)
        assert ctx.own_group == ("B1", "B2", "B3", "B5", "B6")
        assert ctx.looks_like == tuple(f"A{c}" for c in range(1, 7))
        assert ctx.looks_like_value == "RPMI"
        assert [f.hours for f in ctx.frames] == [24.0, 48.0]
        assert set(ctx.thumbnails) == set(ctx.own_group) | set(ctx.looks_like)
        assert all(h in (24.0, 48.0) and area > 0 for h, area in ctx.group_curve)
        evidence = {"own_group": ["B1", "B2"], "looks_like": {"value": "EMEM", "wells": ["A6"]}}
        ctx = well_context(store, plate, "B4", replace(row, evidence=evidence))
        assert (ctx.own_group, ctx.looks_like, ctx.looks_like_value) == (
            ("B1", "B2"), ("A6",), "EMEM")
    finally:
        store.close()


def test_frame_view_reads_and_segments_off_disk(run_db):
    store = Store(run_db, readonly=True)
    try:
        uri = store.db.execute("select f.uri from frames f join results r on r.frame_id = f.id "
                               "where r.usable = 1 limit 1").fetchone()[0]
    finally:
        store.close()
    view = load_frame_view(uri, side=128)
    assert view.error is None and view.pixels.shape == (128, 128)
    assert view.mask is not None and 0.01 < view.mask.mean() < 0.9
    missing = load_frame_view(uri + ".gone")
    assert missing.error and "cannot read" in missing.error


def test_conformal_sets_keep_the_top_class():
    probs = {"cell_line": {"A": 0.6, "B": 0.3, "C": 0.1}}
    assert conformal_sets(probs, {"cell_line": 0.75}) == {"cell_line": ["A", "B"]}
    assert conformal_sets(probs, {"cell_line": 0.01}) == {"cell_line": ["A"]}
    assert conformal_sets(probs, {}) == {}


def _alert(i, severity="critical", well="A1", state="open"):
    return AlertRow(id=i, kind="protocol", severity=severity, state=state,
                    message=f"alert {i} in {well}", raised_at="", well=well)


def test_notifier_is_rate_limited_and_groups_bursts():
    now = [0.0]
    notifier = CriticalNotifier(min_interval_s=30, clock=lambda: now[0])
    assert notifier.update([_alert(1)]) is None  # already there when the window opened
    assert notifier.update([_alert(1), _alert(2, well="B2")]) == "alert 2 in B2"
    now[0] = 5
    burst = [_alert(1), _alert(2), _alert(3, well="C3"), _alert(4, well="D4"),
             _alert(5, severity="warning")]
    assert notifier.update(burst) is None  # inside the interval: held back
    now[0] = 31
    message = notifier.update(burst)
    assert message == "2 new critical alerts in 2 well(s): C3, D4"
    assert notifier.update(burst) is None  # nothing new


def test_feed_filter_keeps_notices_whatever_the_label():
    notice = AlertRow(id=9, kind="notice", severity="warning", state="open", message="n",
                      raised_at="")
    rows = (notice, _alert(1), _alert(2, severity="warning", state="dismissed"),
            replace(_alert(3), label="cell_line"))
    assert FeedFilter(label="cell_line").apply(rows) == (notice, rows[3])
    assert FeedFilter(severity="warning").apply(rows) == (notice, rows[2])
    assert FeedFilter(state="dismissed").apply(rows) == (rows[2],)
    assert FeedFilter().apply(rows) == rows


def test_forecast_preview_uses_earlier_usable_visits_of_the_site(run_db):
    from edge_app.dashboard.detail import ForecastPreview

    store = Store(run_db, readonly=True)
    try:
        plate = build_snapshot(store).plate()
        contexts = [well_context(store, plate, w) for w in sorted(plate.tiles)]
    finally:
        store.close()
    usable = [f for c in contexts for f in c.frames if f.quality in ("", "ok")]
    assert len(usable) >= 4, "the simulated run should have usable frames"
    preview = ForecastPreview()
    engine = preview._load()
    assert engine is not None, "the installed next-frame engine should load"
    # a well imaged at 24, 48, ... h: made from real frames of the run, one per visit
    visits = tuple(replace(f, site=0, hours=24.0 * (k + 1))
                   for k, f in enumerate(usable[:engine.context + 1]))
    ctx = replace(contexts[0], frames=visits)
    forecast, actual, message = preview(ctx, visits[-1])
    assert forecast is not None and forecast.shape == actual.shape, message
    assert forecast.dtype == np.uint8 and "what arrived" in message
    forecast, _, message = preview(ctx, visits[0])
    assert forecast is None and f"needs {engine.context} earlier usable visits" in message


def test_snapshot_reuses_alerts_when_only_frames_changed(run_db):
    store = Store(run_db)
    try:
        first = build_snapshot(store)
        store.db.execute("insert into frames (uri, sha, status) values ('x.tif', 'y', 'failed')")
        second = build_snapshot(store, first)
        assert second.alerts is first.alerts and second.frames == first.frames + 1
        review(store, first.alerts[0].id, "dismissed")
        third = build_snapshot(store, second)
        assert third.alerts is not second.alerts and third.alerts[0].state == "dismissed"
    finally:
        store.close()
