"""File-name presets, user regexes and Micro-Manager position labels."""

from __future__ import annotations

import pytest

from edge_app.sources.naming import (
    NamePatternError,
    get_name_pattern,
    list_name_patterns,
    parse_position_name,
)


def test_presets_are_listed() -> None:
    assert list_name_patterns() == ["plate-well-site-time", "slimia"]


def test_slimia_grammar_from_the_reference() -> None:
    name = "MCF10A_DMEMF12-BME_LiquidOverlay-ULA_3000cells_082h_B1_T5_10X.ome.tiff"
    fields = get_name_pattern("slimia").parse(name)
    assert fields is not None
    assert fields.hours == 82.0
    assert fields.well is None
    assert fields.labels == {
        "cell_line": "MCF10A",
        "culture_medium": "DMEMF12-BME",
        "formation_method": "LiquidOverlay-ULA",
        "seeding_density": "3000",
        "biological_rep": "1",
        "technical_rep": "5",
        "magnification": "10X",
    }


def test_slimia_unpadded_hours_and_lower_case_x() -> None:
    fields = get_name_pattern("slimia").parse(
        "HCT116_DMEMLG_HangingDrop_2000cells_72h_B2_T1_4x.tiff"
    )
    assert fields is not None and fields.hours == 72.0
    assert fields.labels["magnification"] == "4X"


def test_slimia_rejects_other_names() -> None:
    assert (
        get_name_pattern("slimia").parse("img_channel000_position000_time000000000_z000.tif")
        is None
    )


def test_plate_well_site_time_preset() -> None:
    fields = get_name_pattern("plate-well-site-time").parse("P17_B07_s2_t36.5h.tif")
    assert fields is not None
    assert (fields.plate, fields.well, fields.site, fields.hours) == ("P17", "B7", 2, 36.5)


def test_plate_well_site_time_rejects_impossible_well() -> None:
    assert get_name_pattern("plate-well-site-time").parse("P1_Z99_s0_t1h.tif") is None


def test_user_regex_with_named_groups() -> None:
    pattern = get_name_pattern(r"(?P<well>[A-P]\d+)_(?P<time>\d+)\.png$")
    fields = pattern.parse("run3_C12_0007.png")
    assert fields is not None
    assert (fields.well, fields.time, fields.hours, fields.site) == ("C12", 7, None, None)


def test_user_regex_without_known_groups_lists_presets() -> None:
    with pytest.raises(NamePatternError, match="plate-well-site-time, slimia"):
        get_name_pattern(r"(?P<foo>\d+)")


def test_invalid_regex_is_a_clear_error() -> None:
    with pytest.raises(NamePatternError, match="not a valid regex"):
        get_name_pattern("(?P<well>[A-P")


@pytest.mark.parametrize(
    ("label", "expected"),
    [("A1-Site_0", ("A1", 0)), ("B07-Site_12", ("B7", 12)), ("p24-Site_3", ("P24", 3))],
)
def test_position_names(label: str, expected: tuple[str, int]) -> None:
    assert parse_position_name(label) == expected


@pytest.mark.parametrize("label", ["Pos0", "A1", "A1-Site_x", "Q1-Site_0", "A25-Site_0", ""])
def test_position_names_that_are_not_wells(label: str) -> None:
    assert parse_position_name(label) is None
