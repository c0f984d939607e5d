"""Issue 12: plate maps that were silently wrong or crashed, each a named regression test."""

from __future__ import annotations

import csv

import openpyxl
import pytest

from edge_app.core.plate import SHOWN_PROBLEMS, PlateProtocolError, load_plate_protocol

HEADER = "well,cell_line,seeding_density\n"


def _error(path) -> PlateProtocolError:
    with pytest.raises(PlateProtocolError) as caught:
        load_plate_protocol(path)
    return caught.value


def test_issue12_unclosed_quote_does_not_swallow_wells(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + 'A1,"MCF10A,3000\nA2,HCT116,3000\nA3,HCT116,3000\n',
                    encoding="utf-8")
    error = _error(path)
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert (problem.file, problem.row, problem.column) == ("plate.csv", 2, "B")
    assert "quote" in problem.message and "not closed" in problem.message
    assert "\n" not in str(error)


def test_issue12_cell_over_128_kib_is_a_problem_not_a_traceback(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + "A1,HCT116,3000\nA2," + "x" * (csv.field_size_limit() + 10)
                    + ",3000\n", encoding="utf-8")
    error = _error(path)
    assert [(p.row, p.column) for p in error.problems] == [(3, None)]
    assert "longer than" in str(error) and "\n" not in str(error)


def test_issue12_nul_byte_in_a_label_is_refused(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + "A1,HCT\x00116,3000\n", encoding="utf-8")
    error = _error(path)
    problem = error.problems[0]
    assert (problem.row, problem.column) == (2, "cell_line")
    assert "control character '\\x00'" in problem.message


def test_issue12_control_characters_in_a_header_and_an_annotation(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("well,cell_line,no\x00tes,drug\nA1,HCT116,ok,x\nA2,HCT116,ok,a\x1bb\n",
                    encoding="utf-8")
    error = _error(path)
    assert [(p.row, p.column) for p in error.problems] == [(1, "C"), (3, "drug")]


@pytest.mark.parametrize("density", ["1e26", "100000000000000000000000000", "20000000"])
def test_issue12_absurd_density_is_refused(tmp_path, density):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + f"A1,HCT116,{density}\n", encoding="utf-8")
    error = _error(path)
    assert error.problems[0].column == "seeding_density"


def test_issue12_density_1e26_from_excel_is_refused(tmp_path):
    path = tmp_path / "plate.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["well", "seeding_density"])
    book.active.append(["A1", 1e26])
    book.save(path)
    error = _error(path)
    assert "more cells than a well holds" in error.problems[0].message


def test_issue12_ten_thousand_duplicate_rows_give_a_bounded_error(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + "A1,HCT116,3000\n" * 10_000, encoding="utf-8")
    error = _error(path)
    assert len(error.problems) == 9_999
    lines = str(error).splitlines()
    assert lines[0] == f"plate map {path} has 9999 problems:"
    assert len(lines) == SHOWN_PROBLEMS + 2
    assert lines[-1] == f"  ... and {9_999 - SHOWN_PROBLEMS} more"
    assert "row 3, column 'well'" in lines[1]


def test_a_multiline_csv_note_is_still_one_row_each(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text(HEADER + 'A1,HCT116,3000\n"A2",HCT116,"3,000"\n', encoding="utf-8")
    plate = load_plate_protocol(path)
    assert plate.wells["A2"].labels["seeding_density"] == "3000"


def test_huge_magnification_is_refused(tmp_path):
    path = tmp_path / "plate.csv"
    path.write_text("well,magnification\nA1," + "9" * 400 + "x\n", encoding="utf-8")
    assert _error(path).problems[0].column == "magnification"


def test_formula_without_a_saved_value_is_not_read_as_blank(tmp_path):
    """Found by the XLSX fuzzer: a sheet written by a script has formulas without cached
    values; reading them as blank cells silently dropped the label."""
    path = tmp_path / "plate.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["well", "cell_line"])
    book.active.append(["A1", "=CONCAT(\"HCT\", \"116\")"])
    book.save(path)
    error = _error(path)
    assert [(p.row, p.column) for p in error.problems] == [(2, "cell_line")]
    assert "has no saved value" in error.problems[0].message


@pytest.mark.parametrize("damage", ["compression", "encrypted"])
def test_damaged_xlsx_is_one_problem_not_a_traceback(tmp_path, damage):
    """Found by the XLSX fuzzer: zipfile's NotImplementedError / RuntimeError escaped."""
    path = tmp_path / "plate.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["well", "cell_line"])
    book.active.append(["A1", "HCT116"])
    book.save(path)
    raw = bytearray(path.read_bytes())
    central = raw.find(b"PK\x01\x02")  # the central-directory entry of the sheet
    while raw[central + 46: central + 46 + 24] != b"xl/worksheets/sheet1.xml":
        central = raw.find(b"PK\x01\x02", central + 4)
    if damage == "compression":
        raw[central + 10] = 99  # an unknown compression method
    else:
        raw[central + 8] |= 0x01  # the "encrypted" flag
    path.write_bytes(bytes(raw))
    error = _error(path)
    assert len(error.problems) == 1 and "\n" not in str(error)
    assert "damaged" in str(error) or "cannot open as an Excel workbook" in str(error)
