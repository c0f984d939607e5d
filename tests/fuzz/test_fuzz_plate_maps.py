"""Fuzzed plate maps (CSV and XLSX): accepted exactly as written, or one clear error that
names the file, row and column. Never a traceback, a hang or a silently changed value."""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_app.core.plate import PlateProtocol, PlateProtocolError, load_plate_protocol
from edge_app.core.plate_io import MAX_CELLS_PER_WELL
from edge_app.core.wells import plate_wells
from tests.fuzz.profiles import TIMEOUT_S, heavy

HEADER = ["well", "cell_line", "seeding_density", "magnification", "biological_rep", "notes"]
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
                min_size=1, max_size=12).map(str.strip).filter(
                    lambda t: bool(t) and not t.startswith("#"))

pytestmark = pytest.mark.timeout(TIMEOUT_S)


@st.composite
def plate_rows(draw, text: st.SearchStrategy[str] = _TEXT) -> list[dict[str, object]]:
    wells = draw(st.lists(st.sampled_from(plate_wells(384)), min_size=1, max_size=16,
                          unique=True))
    return [{
        "well": well,
        "cell_line": draw(text),
        "seeding_density": draw(st.integers(1, MAX_CELLS_PER_WELL)),
        "magnification": draw(st.sampled_from(["4X", "10X", "20X"])),
        "biological_rep": draw(st.integers(1, 8)),
        "notes": draw(text),
    } for well in wells]


def _csv_text(rows: list[dict[str, object]], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row[k] for k in HEADER])
    return buffer.getvalue()


def _check_accepted(plate: PlateProtocol, rows: list[dict[str, object]]) -> None:
    assert sorted(plate.wells) == sorted(str(r["well"]) for r in rows)
    for row in rows:
        well = plate.wells[str(row["well"])]
        assert well.labels == {
            "cell_line": row["cell_line"], "seeding_density": str(row["seeding_density"]),
            "magnification": row["magnification"],
            "biological_rep": f"B{row['biological_rep']}"}
        assert well.annotations == {"notes": row["notes"]}


def _check_loaded_or_clear_error(path: Path, n_rows: int) -> PlateProtocol | None:
    try:
        plate = load_plate_protocol(path)
    except PlateProtocolError as error:
        message = str(error)
        assert str(path) in message.splitlines()[0]
        assert len(message.splitlines()) <= 22  # bounded: 20 problems and "and N more"
        for problem in error.problems:
            assert problem.file == path.name
            assert problem.row is None or 1 <= problem.row <= n_rows + 1
            assert problem.message and "Traceback" not in problem.message
        return None
    for well in plate.wells.values():
        for value in (*well.labels.values(), *well.annotations.values()):
            assert not any(ord(c) < 32 and c not in "\t\n" for c in value)
        density = well.labels.get("seeding_density")
        assert density is None or 0 < int(density) <= MAX_CELLS_PER_WELL
    return plate


@given(rows=plate_rows(), delimiter=st.sampled_from([",", ";", "\t"]))
def test_fuzz_valid_csv_maps_load_exactly(rows, delimiter):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.csv"
        path.write_text(_csv_text(rows, delimiter), encoding="utf-8")
        _check_accepted(load_plate_protocol(path), rows)


_NOISE = st.one_of(
    st.text(max_size=8),
    st.sampled_from(['"', "'", "\x00", "\n", "\r", ",", ";", "\t", "#", "\ufeff", "1e26",
                     "9" * 40, "A1", "\\", "x" * 140_000]),
)


@given(rows=plate_rows(), data=st.data())
def test_fuzz_mutated_csv_maps_never_crash(rows, data):
    text = _csv_text(rows, ",")
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        at = data.draw(st.integers(0, len(text)), label="at")
        cut = data.draw(st.integers(0, 6), label="cut")
        text = text[:at] + data.draw(_NOISE, label="insert") + text[at + cut:]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.csv"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        _check_loaded_or_clear_error(path, text.count("\n") + text.count("\r") + 1)


def _xlsx(path: Path, table: list[list[object]]) -> None:
    book = openpyxl.Workbook()
    for row in table:
        book.active.append(row)
    book.save(path)


@heavy(10)
@given(rows=plate_rows(_TEXT.filter(lambda t: not t.startswith("="))))  # "=..." is a formula
def test_fuzz_valid_xlsx_maps_load_exactly(rows):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.xlsx"
        _xlsx(path, [HEADER] + [[r[k] for k in HEADER] for r in rows])
        _check_accepted(load_plate_protocol(path), rows)


_XLSX_CELL = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 1, 1)),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20),
)


@heavy(10)
@given(rows=plate_rows(), data=st.data())
def test_fuzz_mutated_xlsx_maps_never_crash(rows, data):
    table = [list(HEADER)] + [[r[k] for k in HEADER] for r in rows]
    for _ in range(data.draw(st.integers(1, 5), label="mutations")):
        r = data.draw(st.integers(0, len(table) - 1), label="row")
        c = data.draw(st.integers(0, len(HEADER)), label="column")
        cells = table[r] + [None] * (c + 1 - len(table[r]))
        cells[c] = data.draw(_XLSX_CELL, label="cell")
        table[r] = cells
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.xlsx"
        _xlsx(path, table)
        _check_loaded_or_clear_error(path, len(table))


@heavy(10)
@given(rows=plate_rows(), data=st.data())
def test_fuzz_damaged_xlsx_files_never_crash(rows, data):
    # positions are drawn independently of the file's size (its timestamps vary by run)
    kind = data.draw(st.sampled_from(["truncate", "flip"]), label="damage")
    at = data.draw(st.integers(0, 2**20), label="at")
    flips = data.draw(st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)),
                               min_size=1, max_size=16), label="flips")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "plate.xlsx"
        _xlsx(path, [HEADER] + [[r[k] for k in HEADER] for r in rows])
        raw = bytearray(path.read_bytes())
        if kind == "truncate":
            raw = raw[:at % len(raw)]
        else:
            for offset, byte in flips:
                raw[offset % len(raw)] = byte
        path.write_bytes(bytes(raw))
        _check_loaded_or_clear_error(path, len(rows) + 1)
