"""Fuzzed file-name patterns and names, through to the store: a name gives fields that the
store holds exactly, a frame failure with its reason, or a one-line pattern error. Never a
traceback in the checker or the writer (``t48h`` in ``hours``, a site of 10^22)."""

from __future__ import annotations

import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_app.core.frames import FrameMeta
from edge_app.core.results import FrameResult, Quality
from edge_app.core.wells import WellError
from edge_app.sources.naming import (
    PRESETS,
    NameFieldError,
    NamePatternError,
    get_name_pattern,
)
from edge_app.store import Store
from edge_app.store.rows import result_entry
from tests.fuzz.profiles import TIMEOUT_S

NOW = datetime(2026, 12, 2, tzinfo=UTC)
_DIGITS = st.text("0123456789", min_size=1, max_size=30)
_PART = st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00",
                              exclude_categories=("Cs",)), min_size=1, max_size=8)
_WELL = st.one_of(st.sampled_from(["A1", "b07", "P24", "Q1", "A0", "A25", "H12"]),
                  st.from_regex(r"[A-Za-z]\d{1,2}", fullmatch=True))

pytestmark = pytest.mark.timeout(TIMEOUT_S)


@st.composite
def plate_well_site_time_names(draw) -> str:
    hours = draw(st.one_of(_DIGITS, st.builds("{}.{}".format, _DIGITS, _DIGITS),
                           st.just("9" * 400), _PART))
    return (f"{draw(_PART)}_{draw(_WELL)}_s{draw(st.one_of(_DIGITS, _PART))}_t{hours}h"
            f"{draw(st.sampled_from(['.tif', '.ome.tif', '.TIFF', '.png', '', '.tif.tmp']))}")


def _store_fields(name: str, parse) -> None:
    """Parse ``name``; store what it says; the store keeps it exactly or says why not."""
    try:
        fields = parse(name)
    except NameFieldError as error:
        assert "\n" not in str(error) and str(error).startswith("file name ")
        return
    if fields is None:
        return
    try:
        meta = FrameMeta(uri=f"/acq/{name}", plate_id=fields.plate, well=fields.well,
                         site=fields.site or 0, hours=fields.hours, timepoint_index=fields.time)
    except WellError:
        raise AssertionError(f"parse gave a well the store cannot take: {fields.well!r}") from None
    result = FrameResult(meta=meta, sha="s", width=8, height=8, dtype="uint8", shape=None,
                         quality=(Quality.NO_SPHEROID,), focus=0.0, n_objects=0,
                         segmenter="t", hours=fields.hours, processed_at=NOW)
    entry = result_entry(result)
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "s.sqlite")
        try:
            assert store.apply(entry) is not None
            row = store.db.execute("select status, reason, site, hours, uri from frames"
                                   ).fetchone()
            assert store.is_known(f"/acq/{name}", -1, -1)
        finally:
            store.close()
    status, reason, site, hours, _ = row
    if status == "failed":
        assert reason.startswith("invalid value: ") and "out of range" in reason
        assert (fields.site or 0) > 2**63 - 1 or (fields.time or 0) > 2**63 - 1
    else:
        assert site == (fields.site or 0)
        assert hours == fields.hours or (hours is None and fields.hours is None)


@given(name=plate_well_site_time_names())
def test_fuzz_preset_names_to_the_store(name):
    _store_fields(name, get_name_pattern("plate-well-site-time").parse)


@given(name=st.one_of(plate_well_site_time_names(), _PART))
def test_fuzz_slimia_and_other_presets_never_crash(name):
    for preset in PRESETS:
        _store_fields(name, get_name_pattern(preset).parse)


_GROUP_BODY = st.sampled_from([r".+", r".+?", r"\d+", r"[A-Pa-p]\d{1,2}", r"t\d+h", r"\w*",
                               r"[^_]+", r"\d+(?:\.\d+)?", r"(?:x|y)?"])
_GROUP = st.sampled_from(["plate", "well", "site", "hours", "time", "cell_line"])


@st.composite
def user_patterns(draw) -> str:
    groups = draw(st.lists(_GROUP, min_size=1, max_size=4, unique=True))
    parts = [f"(?P<{g}>{draw(_GROUP_BODY)})" for g in groups]
    return draw(st.sampled_from(["^", ""])) + "_".join(parts) + draw(st.sampled_from(
        [r"\.tif$", "", r"(?:\.\w+)*$"]))


@given(spec=st.one_of(user_patterns(), st.text(max_size=20)),
       names=st.lists(st.one_of(plate_well_site_time_names(), _PART), min_size=1, max_size=4))
def test_fuzz_user_patterns_and_names(spec, names):
    try:
        pattern = get_name_pattern(spec)
    except NamePatternError as error:
        assert "\n" not in str(error).strip()
        return
    assert isinstance(pattern.regex, re.Pattern)
    for name in names:
        _store_fields(name, pattern.parse)
