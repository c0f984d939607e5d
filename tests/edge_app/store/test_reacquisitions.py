"""Re-acquired frames (issue 12): the same name with new content in the same run is a new
frame, stored beside the old one and linked to it through ``frames.supersedes``."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import tifffile

from edge_app.core.frames import FrameMeta
from edge_app.core.results import FrameResult, Quality
from edge_app.pipeline.analysis import FrameAnalyser
from edge_app.pipeline.runner import Pipeline
from edge_app.sources.folder.source import FolderSource
from edge_app.store import Store, StoreWriter
from engines.classical import ClassicalSegmenter
from engines.morphometry import ShapeDescriptors
from tests.support import drawn_spheroid

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def _result(uri: str, sha: str) -> FrameResult:
    shape = ShapeDescriptors(1000.0, 120.0, 0.3, 0.95, 0.75, 35.7, 40.0, 33.0, 0.87)
    return FrameResult(
        meta=FrameMeta(uri=uri, plate_id="P1", well="A1"), sha=sha, width=64, height=64,
        dtype="uint16", shape=shape, quality=(Quality.OK,), focus=1.0, n_objects=1,
        segmenter="classical", hours=24.0, processed_at=NOW, timings_ms={},
    )


def test_a_new_version_of_a_uri_supersedes_the_last_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    try:
        first = store.record_result(_result("/d/A1.tif", "aaa"))
        other = store.record_result(_result("/d/B1.tif", "bbb"))
        second = store.record_result(_result("/d/A1.tif", "ccc"))
        assert store.record_result(_result("/d/A1.tif", "ccc")) is None  # same content: once
        third = store.record_result(_result("/d/A1.tif", "ddd"))
        links = dict(store.db.execute("select id, supersedes from frames").fetchall())
    finally:
        store.close()
    assert links == {first: None, other: None, second: first, third: second}


@pytest.mark.timeout(60)
def test_a_rewritten_file_is_stored_beside_the_old_one(tmp_path: Path, no_thread_leak) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    path = root / "plate_A1_s0_t24h.tif"
    tifffile.imwrite(path, drawn_spheroid(128, 30, seed=1))
    writer = StoreWriter(tmp_path / "store.sqlite")
    pipeline = Pipeline(FolderSource(root, settle_s=0.1, rescan_s=0.5),
                        FrameAnalyser(ClassicalSegmenter(), clock=lambda: NOW), writer,
                        clock=lambda: NOW)
    pipeline.start()
    try:
        _until(lambda: pipeline.status().processed == 1)
        tmp = root / "retake.part"
        tifffile.imwrite(tmp, drawn_spheroid(128, 34, seed=2))
        os.replace(tmp, path)  # the microscope re-takes the image under the same name
        _until(lambda: pipeline.status().processed == 2)
        time.sleep(1.2)  # two rescans: it is not taken a third time
    finally:
        pipeline.stop()
    try:
        rows = writer.call(lambda s: s.db.execute(
            "select id, uri, sha, status, supersedes from frames order by id").fetchall())
    finally:
        writer.close()
    assert len(rows) == 2 and rows[0][1] == rows[1][1] == str(path)
    assert rows[0][2] != rows[1][2] and {rows[0][3], rows[1][3]} == {"processed"}
    assert (rows[0][4], rows[1][4]) == (None, rows[0][0])


def _until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()
