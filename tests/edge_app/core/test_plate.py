"""Plate maps from real CSV and Excel files: values, seeding times, and every error kind."""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest

from edge_app.core.plate import (
    LABELS,
    ORDINAL_LABELS,
    PlateProtocol,
    PlateProtocolError,
    Problem,
    WellProtocol,
    load_plate_protocol,
)
from edge_app.core.wells import WellError

VOCABULARY = {
    "cell_line": ["MCF10A", "HCT116", "SKOV3", "CT5.3hTERT"],
    "culture_medium": ["DMEMLG", "DMEMF12", "DMEMF12-BME", "RPMI"],
    "seeding_density": ["400", "2000", "3000", "20000"],
    "formation_method": ["LiquidOverlay-ULA", "HangingDrop"],
    "magnification": ["4X", "5X", "10X"],
    "biological_rep": [f"B{i}" for i in range(1, 9)],
}


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
    workbook.save(path)
    return path


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(PlateProtocolError) as caught:
        load_plate_protocol(path, **kwargs)  # type: ignore[arg-type]
    assert str(path) in str(caught.value)
    return caught.value.problems


@pytest.fixture
def utc_plus_2():
    """Run with the PC's local time zone at UTC+2 (POSIX TZ, no tz database needed)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "XYZ-02"
    time.tzset()
    try:
        yield timezone(timedelta(hours=2))
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


def test_label_order_is_the_design_order():
    assert LABELS == (
        "cell_line",
        "culture_medium",
        "seeding_density",
        "formation_method",
        "microscope",
        "magnification",
        "biological_rep",
        "technical_rep",
    )
    assert ORDINAL_LABELS == ("seeding_density", "timepoint")


def test_csv_headers_values_and_annotations(tmp_path):
    path = write_csv(
        tmp_path / "P001.csv",
        (
            "Well,Cell_Line,culture_medium,Seeding_density (cells),MAGNIFICATION,"
            "biological_rep,technical_rep,drug,notes\n"
            'A01,MCF10A,DMEMF12-BME,"3,000 cells",10x,1,T02,taxol,edge well\n'
            "a2,HCT116,RPMI,3000.0,4X,B2,3,,\n"
            "H12,,RPMI,5k,10,b3,,dmso,\n"
        ),
    )
    plate = load_plate_protocol(path)
    assert plate.plate_id == "P001"
    assert plate.source == str(path)
    assert list(plate.wells) == ["A1", "A2", "H12"]
    assert plate.n_wells == 96
    a1 = plate.expected("A01")
    assert a1 == WellProtocol(
        "A1",
        {
            "cell_line": "MCF10A",
            "culture_medium": "DMEMF12-BME",
            "seeding_density": "3000",
            "magnification": "10X",
            "biological_rep": "B1",
            "technical_rep": "T2",
        },
        None,
        {"drug": "taxol", "notes": "edge well"},
    )
    a2 = plate.expected("A2")
    assert a2 is not None
    assert a2.labels["seeding_density"] == "3000"
    assert a2.labels["technical_rep"] == "T3"
    assert a2.annotations == {}
    h12 = plate.wells["H12"]
    assert "cell_line" not in h12.labels  # blank cell: unknown, no verdict
    assert h12.labels["seeding_density"] == "5000"
    assert h12.labels["magnification"] == "10X"
    assert h12.labels["biological_rep"] == "B3"
    assert plate.expected("B1") is None
    assert plate.hours_since_seeding("A1", datetime.now(UTC)) is None
    with pytest.raises(WellError):
        plate.expected("Q1")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_csv_delimiters_and_bom(tmp_path, delimiter):
    text = delimiter.join(["well", "cell_line", "seeding_density"]) + "\n"
    text += delimiter.join(["B07", "SKOV3", "3,000"]) + "\n"
    path = write_csv(tmp_path / "plate.csv", text, encoding="utf-8-sig")
    plate = load_plate_protocol(path, plate_id="run-7")
    assert plate.plate_id == "run-7"
    assert plate.wells["B7"].labels == {"cell_line": "SKOV3", "seeding_density": "3000"}


def test_xlsx_numbers_dates_and_sheet_named_like_the_plate(tmp_path, utc_plus_2):
    header = ["Well_ID", "cell_line", "seeding_density", "magnification", "seeded_at", "drug"]
    path = write_xlsx(
        tmp_path / "plates.xlsx",
        {
            "Overview": [["nothing to see"]],
            "Plate 12": [
                header,
                ["P24", "HCT116", 3000, "10x", datetime(2024, 5, 1, 9, 30), "taxol"],
                ["A1", "HCT116", 2000.0, 4, datetime(2024, 5, 1, 9, 30), None],
                [None, None, None, None, None, None],
            ],
        },
    )
    plate = load_plate_protocol(path, plate_id="plate_12")
    assert plate.n_wells == 384
    assert plate.wells["P24"].labels == {
        "cell_line": "HCT116",
        "seeding_density": "3000",
        "magnification": "10X",
    }
    assert plate.wells["A1"].labels["seeding_density"] == "2000"
    assert plate.wells["A1"].labels["magnification"] == "4X"
    assert plate.wells["P24"].annotations == {"drug": "taxol"}
    seeded = datetime(2024, 5, 1, 9, 30, tzinfo=utc_plus_2)  # Excel dates are local time
    assert plate.seeded_at == seeded
    assert plate.seeded_at.tzinfo == UTC
    assert plate.hours_since_seeding("P24", seeded + timedelta(hours=72)) == pytest.approx(72)
    # Without a sheet named like the plate, the first sheet is read: it has no well column.
    problems = problems_of(path)
    assert {(p.row, p.column, p.message) for p in problems} == {
        (1, None, "the plate map lists no wells"),
        (1, None, "no 'well' column (found: nothing to see); add one with A1..P24"),
    }


def test_every_error_is_reported_with_file_row_and_column(tmp_path):
    path = write_csv(
        tmp_path / "plate.csv",
        (
            "well,cell_line,seeding_density,magnification,seeded_at,celline,culture medum\n"
            "A1,MCF10A,3000,10X,2024-05-01T09:00,,\n"  # row 2
            "A01,MCF10A,3000,10X,,,\n"  # row 3: duplicate of A1
            ",MCF10A,3000,10X,,,\n"  # row 4: blank well
            "Q3,MCF10A,3000,10X,,,\n"  # row 5: not a well
            "B1,MCF10A,lots,10X,,,\n"  # row 6: bad density
            "B2,MCF10A,3000,high,,,\n"  # row 7: bad magnification
            "B3,MCF10A,3000,10X,yesterday,,\n"  # row 8: bad time
            "\n"  # row 9: blank, skipped
            "B4,MCF10A,3000,10X,,,,stray\n"  # row 10: value without header
        ),
    )
    problems = problems_of(path)
    found = {(p.row, p.column): p.message for p in problems}
    assert "rename the column to 'cell_line'" in found[(1, "celline")]
    assert "rename the column to 'culture_medium'" in found[(1, "culture medum")]
    assert "has values but no header" in found[(1, "H")]
    assert "listed twice (also on row 2)" in found[(3, "well")]
    assert "blank" in found[(4, "well")]
    assert "'Q3' is not a well name" in found[(5, "well")]
    assert "'lots' is not a number of cells" in found[(6, "seeding_density")]
    assert "'high' is not a magnification" in found[(7, "magnification")]
    assert "'yesterday' is not an ISO time" in found[(8, "seeded_at")]
    assert len(problems) == 9
    assert str(Problem("plate.csv", 7, "magnification", "bad")) == (
        "plate.csv:row 7, column 'magnification': bad"
    )
    assert all(str(p).startswith("plate.csv:row ") for p in problems)


@pytest.mark.parametrize(
    "header", ["cel_line", "cell line", "celline", "Cell-Line", "seeding_densty", "seeded at"]
)
def test_misspelled_label_columns_are_errors(tmp_path, header):
    path = write_csv(tmp_path / "plate.csv", f"well,{header}\nA1,x\n")
    (problem,) = problems_of(path)
    assert (problem.row, problem.column) == (1, header)
    assert "misspelled" in problem.message


def test_file_level_errors(tmp_path):
    missing = problems_of(tmp_path / "absent.csv")
    assert "file not found" in missing[0].message
    odd = tmp_path / "plate.json"
    odd.write_text("{}")
    assert "valid: .csv" in problems_of(odd)[0].message
    empty = write_csv(tmp_path / "empty.csv", "\n\n")
    assert "no header row" in problems_of(empty)[0].message
    header_only = write_csv(tmp_path / "header.csv", "well,cell_line\n")
    assert problems_of(header_only)[0].message == "the plate map lists no wells"
    twice = write_csv(tmp_path / "twice.csv", "well,cell_line,CELL_LINE\nA1,x,y\n")
    (problem,) = problems_of(twice)
    assert (problem.row, problem.column) == (1, "CELL_LINE")
    not_excel = tmp_path / "fake.xlsx"
    not_excel.write_text("well,cell_line\n")
    assert "Excel" in problems_of(not_excel)[0].message


def test_seeded_at_per_well_with_offsets(tmp_path):
    path = write_csv(
        tmp_path / "plate.csv",
        ("well,seeded_at\nA1,2024-05-01T09:00:00+02:00\nA2,2024-05-02T07:00:00Z\nA3,\n"),
    )
    plate = load_plate_protocol(path)
    assert plate.seeded_at is None  # the wells disagree: no plate-level default
    assert plate.wells["A1"].seeded_at == datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    assert plate.wells["A2"].seeded_at == datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    assert plate.wells["A3"].seeded_at is None
    at = datetime(2024, 5, 3, 9, 0, tzinfo=timezone(timedelta(hours=2)))
    assert plate.hours_since_seeding("A01", at) == pytest.approx(48.0)
    assert plate.hours_since_seeding("A2", at) == pytest.approx(24.0)
    assert plate.hours_since_seeding("A3", at) is None


def test_seeded_at_same_on_every_row_is_the_plate_default(tmp_path):
    path = write_csv(
        tmp_path / "plate.csv",
        ("well,seeded_at\nA1,2024-05-01T09:00+00:00\nA2,2024-05-01 09:00:00+00:00\n"),
    )
    plate = load_plate_protocol(path)
    assert plate.seeded_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_seeded_at_comment_and_argument(tmp_path, utc_plus_2):
    path = write_csv(
        tmp_path / "plate.csv",
        (
            "# plate_id: PL-42\n"
            "# seeded_at: 2024-05-01T09:00\n"
            "well,cell_line,seeded_at\n"
            "A1,MCF10A,\n"
            "A2,MCF10A,2024-05-02T09:00+02:00\n"
        ),
    )
    plate = load_plate_protocol(path)
    assert plate.plate_id == "PL-42"
    local_nine = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)  # naive 09:00 at UTC+2
    assert plate.seeded_at == local_nine
    assert plate.wells["A1"].seeded_at == local_nine  # the plate default fills blanks
    assert plate.wells["A2"].seeded_at == datetime(2024, 5, 2, 7, 0, tzinfo=UTC)
    given = datetime(2024, 4, 30, 12, 0, tzinfo=UTC)
    plate = load_plate_protocol(path, seeded_at=given)
    assert plate.seeded_at == given
    assert plate.wells["A1"].seeded_at == given
    assert plate.wells["A2"].seeded_at == datetime(2024, 5, 2, 7, 0, tzinfo=UTC)


def test_bad_seeded_at_comment_names_its_row(tmp_path):
    path = write_csv(tmp_path / "plate.csv", "# note: hello\n# seeded_at: soon\nwell\nA1\n")
    (problem,) = problems_of(path)
    assert (problem.row, problem.column) == (2, "seeded_at")
    assert str(problem).startswith("plate.csv:row 2, column 'seeded_at': in the comment:")


def test_vocabulary_matching_gives_canonical_spellings(tmp_path):
    path = write_csv(
        tmp_path / "plate.csv",
        (
            "well,cell_line,culture_medium,formation_method,seeding_density,magnification,"
            "biological_rep,microscope\n"
            "A1,mcf-10a,dmem/f12 bme,liquid overlay ULA,2500,10x,b02,OperaPhenix\n"
            "A2,ct5.3htert,DMEMF12,hanging_drop,3000,5X,B8,Cytation5\n"
        ),
    )
    plate = load_plate_protocol(path, vocabulary=VOCABULARY)
    assert plate.wells["A1"].labels == {
        "cell_line": "MCF10A",
        "culture_medium": "DMEMF12-BME",
        "formation_method": "LiquidOverlay-ULA",
        "seeding_density": "2500",
        "magnification": "10X",
        "biological_rep": "B2",
        "microscope": "OperaPhenix",
    }
    assert plate.wells["A2"].labels["cell_line"] == "CT5.3hTERT"
    assert plate.wells["A2"].labels["formation_method"] == "HangingDrop"


def test_unknown_vocabulary_values_are_errors(tmp_path):
    path = write_csv(
        tmp_path / "plate.csv",
        (
            "well,cell_line,culture_medium,seeding_density,magnification\n"
            "A1,MCF10,RPMI,3000,10X\n"
            "A2,HeLa,DMEM,3000,10X\n"
            "A3,HCT116,RPMI,50000,20x\n"
        ),
    )
    problems = problems_of(path, vocabulary=VOCABULARY)
    found = {(p.row, p.column): p.message for p in problems}
    assert found[(2, "cell_line")] == "unknown cell_line 'MCF10'; did you mean MCF10A?"
    assert "valid values: MCF10A, HCT116, SKOV3, CT5.3hTERT" in found[(3, "cell_line")]
    assert "did you mean DMEMLG, DMEMF12" in found[(3, "culture_medium")]
    assert found[(4, "seeding_density")] == (
        "seeding_density 50000 is outside the engine's range 400..20000"
    )
    assert "unknown magnification '20X'" in found[(4, "magnification")]
    assert len(problems) == 5


def test_ambiguous_vocabulary_is_an_error(tmp_path):
    path = write_csv(tmp_path / "plate.csv", "well,culture_medium\nA1,dmem f12\n")
    vocabulary = {"culture_medium": ["DMEM-F12", "DMEMF12"]}
    (problem,) = problems_of(path, vocabulary=vocabulary)
    assert "matches several culture_medium values: DMEM-F12, DMEMF12" in problem.message


def test_384_well_plate(tmp_path):
    rows = "\n".join(f"{r}{c:02d},HCT116" for r in "ABCDEFGHIJKLMNOP" for c in range(1, 25))
    path = write_csv(tmp_path / "plate384.csv", "well,cell_line\n" + rows + "\n")
    plate = load_plate_protocol(path)
    assert len(plate.wells) == 384
    assert plate.n_wells == 384
    assert plate.expected("P24") is not None
    small = write_csv(tmp_path / "plate96.csv", "well\nA1\nH12\n")
    assert load_plate_protocol(small).n_wells == 96
    beyond = write_csv(tmp_path / "plate13.csv", "well\nA13\n")
    assert load_plate_protocol(beyond).n_wells == 384


def test_to_rows_round_trips_through_csv(tmp_path):
    source = write_csv(
        tmp_path / "plate.csv",
        (
            "well,cell_line,seeding_density,seeded_at,drug\n"
            "B10,MCF10A,3000,2024-05-01T09:00+00:00,taxol\n"
            "A2,HCT116,2000,2024-05-01T10:00+00:00,\n"
        ),
    )
    plate = load_plate_protocol(source)
    rows = plate.to_rows()
    assert [row["well"] for row in rows] == ["A2", "B10"]
    assert list(rows[0]) == ["well", *LABELS, "seeded_at", "drug"]
    copy = tmp_path / "copy.csv"
    with copy.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    again = load_plate_protocol(copy, plate_id=plate.plate_id)
    assert again.wells == plate.wells
    assert isinstance(again, PlateProtocol)
