"""Micro-Manager one-TIFF-per-image layout: streamed metadata.txt and metadata fields."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from edge_app.sources.folder.mm_layout import (
    MetadataTxtCache,
    mm_fields,
    parse_mm_time,
    parse_streamed_json,
)

SUMMARY = {"StartTime": "2024-01-02 10:00:00.000 +0100", "PixelSize_um": 0.65}


def _streamed(entries: dict[str, dict]) -> str:
    """metadata.txt as MM writes it while running: entries flushed, no closing brace."""
    parts = [f'"{key}": {json.dumps(value, indent=2)}' for key, value in entries.items()]
    return "{\n" + ",\n".join(parts) + ",\n"


def test_streamed_json_without_closing_brace() -> None:
    text = _streamed({"Summary": SUMMARY, "Coords-img_a.tif": {"time": 0}})
    assert parse_streamed_json(text)["Coords-img_a.tif"] == {"time": 0}


def test_streamed_json_with_half_written_entry() -> None:
    text = _streamed({"Summary": SUMMARY, "Coords-img_a.tif": {"time": 0}})
    text += '"Coords-img_b.tif": {\n  "time": 1,\n  "posit'
    parsed = parse_streamed_json(text)
    assert parsed["Summary"] == SUMMARY and "Coords-img_b.tif" not in parsed


def test_closed_json_and_garbage() -> None:
    assert parse_streamed_json('{"a": {"b": 1}}') == {"a": {"b": 1}}
    assert parse_streamed_json("not json at all") == {}


def test_mm_time_is_utc() -> None:
    assert parse_mm_time("2024-01-02 10:00:00.000 +0100") == datetime(2024, 1, 2, 9, tzinfo=UTC)
    assert parse_mm_time("2024-01-02T10:00:00") == datetime(2024, 1, 2, 10, tzinfo=UTC)
    assert parse_mm_time("yesterday") is None


def test_metadata_txt_entry_and_summary(tmp_path: Path) -> None:
    folder = tmp_path / "acq_1" / "B2-Site_3"
    folder.mkdir(parents=True)
    name = "img_channel000_position000_time000000004_z000.tif"
    entry = {"PositionName": "B2-Site_3", "ElapsedTime-ms": 90000.0, "FrameIndex": 4}
    (folder / "metadata.txt").write_text(
        _streamed({"Summary": SUMMARY, f"Metadata-Default/{name}": entry})
    )
    cache = MetadataTxtCache()
    image_md, summary = cache.image_metadata(folder / name, {"Camera": "Cam"})
    fields = mm_fields(image_md, summary)
    assert (fields.well, fields.site, fields.elapsed_s, fields.timepoint_index) == (
        "B2",
        3,
        90.0,
        4,
    )
    assert fields.start_time == datetime(2024, 1, 2, 9, tzinfo=UTC)
    assert fields.pixel_size_um == 0.65 and fields.extra["Camera"] == "Cam"


def test_metadata_txt_is_reread_when_it_grows(tmp_path: Path) -> None:
    cache = MetadataTxtCache()
    (tmp_path / "metadata.txt").write_text(_streamed({"Summary": SUMMARY}))
    assert cache.image_metadata(tmp_path / "img_b.tif", {})[0] == {}
    (tmp_path / "metadata.txt").write_text(
        _streamed({"Summary": SUMMARY, "Coords-img_b.tif": {"time": 7}})
    )
    assert cache.image_metadata(tmp_path / "img_b.tif", {})[0] == {"time": 7}


def test_axes_give_time_and_position() -> None:
    fields = mm_fields({"Axes": {"time": 3, "position": "D4-Site_0"}}, {})
    assert (fields.well, fields.site, fields.timepoint_index, fields.elapsed_s) == (
        "D4",
        0,
        3,
        None,
    )
