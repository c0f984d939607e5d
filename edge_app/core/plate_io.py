"""The file side of plate maps: read a CSV or Excel sheet into numbered rows, parse cells.

:mod:`edge_app.core.plate` decides what a row means; this module reads sheets, classifies
headers and turns cells into normalised label values. Row numbers are the ones a person
sees in a spreadsheet program (first line = row 1), comment and blank rows included.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_DELIMITERS = (",", ";", "\t")
_COMMENT = re.compile(r"^\s*#\s*([A-Za-z_][\w\- ]*?)\s*[:=]\s*(.*?)\s*$")

Cell = object  # a str from CSV; str, int, float, datetime or None from Excel


class TableReadError(ValueError):
    """A file that cannot be read as a table (missing, wrong format, bad encoding).

    ``row`` and ``column`` say where, when the problem is at one place of the file.
    """

    def __init__(self, message: str, row: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.row, self.column = row, column


@dataclass(frozen=True)
class RawTable:
    """The rows of one sheet: ``(row number, cells)`` pairs and ``# key: value`` comments.

    ``rows`` excludes comment and blank rows; ``comments`` maps a comment's key to its row
    number and value; ``sheet`` names the Excel sheet read (``None`` for CSV).
    """

    rows: list[tuple[int, list[Cell]]]
    comments: dict[str, tuple[int, str]] = field(default_factory=dict)
    sheet: str | None = None


def read_table(path: Path, *, sheet_hint: str | None = None) -> RawTable:
    """Read ``path`` by its suffix; raise :class:`TableReadError` with a readable reason."""
    path = Path(path)
    if not path.is_file():
        raise TableReadError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return _read_csv(path)
    if suffix in EXCEL_SUFFIXES:
        return _read_excel(path, sheet_hint)
    valid = ", ".join(CSV_SUFFIXES + EXCEL_SUFFIXES)
    raise TableReadError(f"unsupported plate map format {suffix!r}; valid: {valid}")


def _read_csv(path: Path) -> RawTable:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableReadError(
            f"not UTF-8 text ({error.reason} at byte {error.start}); save the CSV as UTF-8"
        ) from error
    delimiter = sniff_delimiter(text)
    return _collect(_csv_rows(text, delimiter))


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[Cell]]]:
    """``(line number, cells)``; a quote never closed or an over-long cell is an error at its
    line, not rows silently swallowed into one cell or a ``_csv.Error`` traceback."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise TableReadError(_csv_problem(error), row=line) from None
        for index, cell in enumerate(record):
            if "\n" in cell or "\r" in cell:
                spanned = reader.line_num - line + 1
                raise TableReadError(
                    f"a quote (\") opened in this cell is not closed, so {spanned} lines are "
                    "read as one cell; close the quote or remove it",
                    row=line, column=column_letter(index))
        yield line, list(record)
        line = reader.line_num + 1


def _csv_problem(error: csv.Error) -> str:
    text = str(error)
    if "field larger than field limit" in text:
        return (f"a cell is longer than {csv.field_size_limit()} characters (a quote not "
                "closed?); shorten it or close the quote")
    return f"not a readable CSV line ({text}); save the sheet again as CSV"


def sniff_delimiter(text: str) -> str:
    """Pick ``,``, ``;`` or tab: the one used most in the header (first real) line."""
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            counts = {delimiter: line.count(delimiter) for delimiter in _DELIMITERS}
            best = max(_DELIMITERS, key=lambda d: counts[d])
            return best if counts[best] > 0 else ","
    return ","


@dataclass(frozen=True)
class UnsavedFormula:
    """An Excel formula cell without a saved result (a sheet written by a script): its value
    is unknown, which must not read as a blank cell."""

    formula: str

    def __str__(self) -> str:
        return self.formula


def _open_workbook(path: Path, *, data_only: bool) -> Any:
    import openpyxl  # an optional-feeling dependency kept off the import path of the core
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it ignores (data validation, styles).
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (InvalidFileException, zipfile.BadZipFile, OSError, KeyError, ValueError,
            TypeError, AttributeError, IndexError) as error:
        raise TableReadError(f"cannot open as an Excel workbook: {error}") from error
    except Exception as error:  # a damaged file reaches zlib, zipfile, XML parsers: any error
        raise TableReadError(_damaged(error)) from error


def _read_excel(path: Path, sheet_hint: str | None) -> RawTable:
    values = _open_workbook(path, data_only=True)
    formulas = _open_workbook(path, data_only=False)
    try:
        name = _pick_sheet(values.sheetnames, sheet_hint)
        pairs = zip(values[name].iter_rows(values_only=True),
                    formulas[name].iter_rows(values_only=True), strict=False)
        rows = (
            (number, [_excel_cell(v, f) for v, f in zip(cells, raw, strict=False)]
             + list(cells[len(raw):]))
            for number, (cells, raw) in enumerate(pairs, start=1)
        )
        table = _collect(rows)
    except Exception as error:  # a damaged sheet fails deep inside openpyxl, zlib or XML
        raise TableReadError(_damaged(error)) from error
    finally:
        values.close()
        formulas.close()
    logger.debug("read sheet %r of %s", name, path)
    return RawTable(rows=table.rows, comments=table.comments, sheet=name)


def _damaged(error: BaseException) -> str:
    detail = str(error).splitlines()[0][:160] if str(error) else ""
    return (f"cannot read as an Excel workbook ({type(error).__name__}: {detail}); the file "
            "looks damaged: save it again from Excel, or export it as CSV")


def _excel_cell(value: Cell, raw: Cell) -> Cell:
    if value is None and isinstance(raw, str) and raw.startswith("="):
        return UnsavedFormula(raw)
    return value


def _pick_sheet(names: list[str], hint: str | None) -> str:
    """The sheet named like ``hint`` (case/punctuation-insensitive), else the first sheet."""
    if hint:
        wanted = squash(hint)
        for name in names:
            if squash(name) == wanted:
                return name
    return names[0]


def squash(text: str) -> str:
    """Lower-case ``text`` and drop everything but letters and digits."""
    return re.sub(r"[\W_]+", "", str(text).casefold())


def _collect(rows: Iterable[tuple[int, list[Cell]]]) -> RawTable:
    kept: list[tuple[int, list[Cell]]] = []
    comments: dict[str, tuple[int, str]] = {}
    for number, cells in rows:
        first = next((c for c in cells if not is_blank(c)), None)
        if first is None:
            continue
        if isinstance(first, str) and first.lstrip().startswith("#"):
            _parse_comment(number, cells, comments)
            continue
        kept.append((number, cells))
    return RawTable(rows=kept, comments=comments)


def _parse_comment(number: int, cells: list[Cell], comments: dict[str, tuple[int, str]]) -> None:
    """``# seeded_at: 2024-05-01T09:00`` -> ``comments["seeded_at"]``; other text is ignored."""
    text = ",".join(str(c) for c in cells if not is_blank(c))
    match = _COMMENT.match(text)
    if match:
        key = re.sub(r"[\s\-]+", "_", match.group(1).strip().lower())
        comments[key] = (number, match.group(2).rstrip(",; \t"))


def is_blank(cell: Cell) -> bool:
    """True for ``None`` and whitespace-only strings."""
    return cell is None or (isinstance(cell, str) and not cell.strip())


# ---- cells to values --------------------------------------------------------------------

_WELL_HEADERS = {"well", "well_id", "well_name", "wellid"}
_DENSITY = re.compile(r"^(\d{1,3}(?:[,' ]\d{3})+|\d+(?:\.\d+)?)\s*(k)?\s*(?:cells?(?:/well)?)?$")
_MAGNIFICATION = re.compile(r"^(\d+(?:\.\d+)?)\s*[x×]?$")
_REPLICATE = re.compile(r"^([a-z]*)\s*0*(\d{1,6})$")
MAX_CELLS_PER_WELL = 10_000_000
MAX_MAGNIFICATION = 200
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def column_letter(index: int) -> str:
    """Spreadsheet column letter of a zero-based index (0 -> ``A``, 26 -> ``AA``)."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_key(header: str) -> str:
    """Header without units in brackets, surrounding spaces or case.

    Spaces and hyphens inside a name are not forgiven: ``cell line`` is reported as a likely
    misspelling of ``cell_line`` (issue 2), so a plate map's columns are exactly the labels.
    """
    return re.sub(r"\(.*?\)|\[.*?\]", "", header).strip().casefold()


def classify_column(header: str, labels: tuple[str, ...]) -> tuple[str, str, str | None]:
    """``(kind, name, problem)`` of a header: kind is well, label, seeded_at or annotation.

    ``problem`` is set when the header looks like a misspelled label (difflib ratio >= 0.8).
    """
    key = column_key(header)
    if key in _WELL_HEADERS:
        return "well", "well", None
    known = {column_key(name): name for name in (*labels, "seeded_at")}
    if key in known:
        name = known[key]
        return ("seeded_at" if name == "seeded_at" else "label"), name, None
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)  # e.g. cel_line, seeded at
    if close:
        return (
            "annotation",
            header,
            (
                f"looks like a misspelled label; rename the column to '{known[close[0]]}' (or "
                "give it a clearly different name to keep it as an annotation)"
            ),
        )
    return "annotation", header, None


def cell_text(cell: Cell) -> str:
    """A cell as text: integral numbers without ``.0``, times in ISO form, text stripped.

    Raises ``ValueError`` for text with control characters (a NUL byte, an escape), which
    would be stored and shown as something else than what the sheet seems to say.
    """
    if isinstance(cell, bool):
        return str(cell)
    if isinstance(cell, UnsavedFormula):
        raise ValueError(f"the formula {cell.formula[:40]!r} has no saved value (a sheet "
                         "written by a script?); open and save it in Excel, or type the value")
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if hasattr(cell, "isoformat"):
        return cell.isoformat()  # type: ignore[no-any-return, attr-defined]
    return check_text("" if cell is None else str(cell).strip())


def check_text(text: str) -> str:
    """``text`` unchanged; ``ValueError`` when it holds a control character (NUL, ESC)."""
    control = _CONTROL.search(text)
    if control:
        raise ValueError(f"contains the control character {control.group()!r} at position "
                         f"{control.start() + 1}; remove it")
    return text


def label_value(
    label: str, cell: Cell, valid: Sequence[object] | None, *, ordinal: bool = False
) -> str:
    """Normalise one label cell and match it to ``valid`` (the vocabulary) when given.

    ``3,000 cells`` -> ``3000``; ``10x`` -> ``10X``; replicate ``2`` -> ``B2``/``T2``.
    Ordinal labels outside the vocabulary are accepted within its numeric range.
    Raises ``ValueError`` with the close valid values.
    """
    text = cell_text(cell)
    if label == "seeding_density":
        text = _density(text)
    elif label == "magnification":
        text = _magnification(text)
    elif label in ("biological_rep", "technical_rep"):
        text = _replicate("B" if label == "biological_rep" else "T", text)
    if valid is None:
        return text
    return match_vocabulary(label, text, [str(v) for v in valid], ordinal=ordinal)


def _density(text: str) -> str:
    match = _DENSITY.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a number of cells (write e.g. 3000 or 3,000 cells)")
    number = float(re.sub(r"[,' ]", "", match.group(1))) * (1000 if match.group(2) else 1)
    if not number.is_integer() or number <= 0:
        raise ValueError(f"{text!r} is not a whole, positive number of cells")
    if number > MAX_CELLS_PER_WELL:
        raise ValueError(f"{text!r} is more cells than a well holds "
                         f"(at most {MAX_CELLS_PER_WELL:,}); check the number")
    return str(int(number))


def _magnification(text: str) -> str:
    match = _MAGNIFICATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a magnification (write e.g. 10X)")
    number = float(match.group(1))
    if not 0 < number <= MAX_MAGNIFICATION:
        raise ValueError(f"{text!r} is not a magnification between 1X and {MAX_MAGNIFICATION}X")
    return f"{int(number) if number.is_integer() else number}X"


def _replicate(prefix: str, text: str) -> str:
    match = _REPLICATE.match(text.strip().lower())
    if match is None or match.group(1) not in ("", prefix.lower()):
        return text
    return f"{prefix}{int(match.group(2))}"


def match_vocabulary(label: str, value: str, valid: Sequence[str], *, ordinal: bool) -> str:
    """The canonical spelling of ``value`` in ``valid``; raise ``ValueError`` if unknown."""
    if value in valid:
        return value
    hits = list(dict.fromkeys(v for v in valid if squash(v) == squash(value)))
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ValueError(f"{value!r} matches several {label} values: {', '.join(hits)}")
    numbers = [float(v) for v in valid if re.fullmatch(r"\d+(?:\.\d+)?", v)]
    if ordinal and numbers and re.fullmatch(r"\d+(?:\.\d+)?", value):
        if min(numbers) <= float(value) <= max(numbers):
            return value
        raise ValueError(
            f"{label} {value} is outside the engine's range "
            f"{cell_text(min(numbers))}..{cell_text(max(numbers))}"
        )
    keys = {squash(v): v for v in valid}
    close = [keys[k] for k in difflib.get_close_matches(squash(value), keys, n=3, cutoff=0.6)]
    if close:
        raise ValueError(f"unknown {label} {value!r}; did you mean {', '.join(close)}?")
    shown = ", ".join(valid[:12]) + (f", ... ({len(valid)} in all)" if len(valid) > 12 else "")
    raise ValueError(f"unknown {label} {value!r}; valid values: {shown}")
