"""The plate protocol (plate map): what the lab says it seeded in each well.

A plate map is a CSV or Excel sheet with one row per well: a ``well`` column (``A1``..``P24``,
``A01`` accepted), one column per label of :data:`LABELS`, an optional ``seeded_at`` column,
and any other columns (drug, notes), which are kept as annotations. Every problem is
collected and reported at once with the file, spreadsheet row (header = row 1) and column.

Times: ISO 8601 with or without a UTC offset. A time without an offset (and an Excel date)
is taken as the local time of this PC and converted to aware UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from edge_app.core import plate_io
from edge_app.core.plate_io import Cell, RawTable, TableReadError, is_blank, read_table
from edge_app.core.wells import WellError, normalise_well, well_index

logger = logging.getLogger(__name__)

LABELS = (
    "cell_line",
    "culture_medium",
    "seeding_density",
    "formation_method",
    "microscope",
    "magnification",
    "biological_rep",
    "technical_rep",
)
ORDINAL_LABELS = ("seeding_density", "timepoint")


@dataclass(frozen=True)
class Problem:
    """One problem in a plate map; ``row`` is the spreadsheet row a person sees."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file}:row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


#: How many problems the error message lists; ``problems`` keeps all of them.
SHOWN_PROBLEMS = 20


class PlateProtocolError(ValueError):
    """A plate map with problems; ``problems`` lists all of them, the message the first
    :data:`SHOWN_PROBLEMS` and how many more there are."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        if len(self.problems) == 1:  # one line: file, row and column
            super().__init__(f"plate map {source or '?'}: {self.problems[0]}")
            return
        count = f"{len(problems)} problems"
        lines = [f"  {problem}" for problem in self.problems[:SHOWN_PROBLEMS]]
        if len(self.problems) > SHOWN_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - SHOWN_PROBLEMS} more")
        super().__init__(f"plate map {source or '?'} has {count}:\n" + "\n".join(lines))


@dataclass(frozen=True)
class WellProtocol:
    """What one well should hold. ``labels`` has only the labels given (blank = unknown).

    ``seeded_at`` is the well's own seeding time, or the plate's when the well has none.
    """

    well: str
    labels: dict[str, str] = field(default_factory=dict)
    seeded_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "well", normalise_well(self.well))


@dataclass(frozen=True)
class PlateProtocol:
    """The plate map of one plate, keyed by canonical well name."""

    plate_id: str
    source: str
    wells: dict[str, WellProtocol]
    seeded_at: datetime | None = None

    def expected(self, well: str) -> WellProtocol | None:
        """The protocol of ``well`` (``A01`` accepted), or ``None`` when it is not listed."""
        return self.wells.get(normalise_well(well))

    def hours_since_seeding(self, well: str, at: datetime) -> float | None:
        """Hours from the well's seeding to ``at`` (naive = local time); ``None`` if unknown.

        The value is negative when ``at`` is before seeding; callers decide what that means.
        """
        protocol = self.expected(well)
        seeded = protocol.seeded_at if protocol is not None else None
        if seeded is None:
            return None
        return (to_utc(at) - seeded).total_seconds() / 3600.0

    @property
    def n_wells(self) -> int:
        """96 or 384, inferred from the largest row and column used."""
        for name in self.wells:
            row, column = well_index(name)
            if row >= 8 or column >= 12:
                return 384
        return 96

    def to_rows(self) -> list[dict[str, str]]:
        """One dict per well (``well``, labels, ``seeded_at`` ISO, annotations) for export."""
        extra = list(dict.fromkeys(k for w in self.wells.values() for k in w.annotations))
        rows = []
        for name in sorted(self.wells, key=well_index):
            protocol = self.wells[name]
            row = {"well": name} | {label: protocol.labels.get(label, "") for label in LABELS}
            row["seeded_at"] = protocol.seeded_at.isoformat() if protocol.seeded_at else ""
            rows.append(row | {key: protocol.annotations.get(key, "") for key in extra})
        return rows


def to_utc(moment: datetime | date) -> datetime:
    """Aware UTC time; a naive time (or a date, at midnight) is taken as local time."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.astimezone(UTC)


def parse_time(cell: Cell) -> datetime:
    """An ISO 8601 string, ``datetime`` or ``date`` as aware UTC; raise ``ValueError``."""
    if isinstance(cell, date):
        return to_utc(cell)
    text = str(cell).strip()
    try:
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO time; write e.g. 2024-05-01T09:30 or 2024-05-01T09:30+02:00"
        ) from None


class _Collector:
    """Problems of one file, in the order found."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, row: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, row, column, message))


@dataclass(frozen=True)
class _Column:
    """What a header cell means: ``kind`` is well, label, seeded_at or annotation."""

    index: int
    header: str
    kind: str
    name: str


def load_plate_protocol(
    path: str | Path,
    *,
    plate_id: str | None = None,
    vocabulary: Mapping[str, Sequence[str]] | None = None,
    seeded_at: datetime | None = None,
) -> PlateProtocol:
    """Read and validate a plate map (``.csv``/``.tsv`` or ``.xlsx``).

    Args:
        path: the plate map file.
        plate_id: the plate's id; else a ``# plate_id: ...`` comment; else the file stem. An
            Excel sheet named like the plate is read, otherwise the first sheet.
        vocabulary: label -> valid values (the engine's); values are matched case- and
            punctuation-insensitively to these spellings and unknown values are errors.
        seeded_at: plate-level seeding time; else a ``# seeded_at: ISO`` comment; else the
            value every row carries. A well's own ``seeded_at`` cell wins over the plate's.

    Raises:
        PlateProtocolError: listing every problem with file, row and column.
    """
    path = Path(path)
    problems = _Collector(path.name)
    try:
        table = read_table(path, sheet_hint=plate_id)
    except TableReadError as error:
        problem = Problem(path.name, error.row, error.column, str(error))
        raise PlateProtocolError([problem], str(path)) from None
    plate = _build(
        table,
        problems,
        plate_id or _comment(table, "plate_id") or path.stem,
        vocabulary,
        seeded_at,
        str(path),
    )
    if problems.problems:
        raise PlateProtocolError(problems.problems, str(path))
    logger.info(
        "plate map %s: plate %s, %d wells (%d-well plate)%s",
        path,
        plate.plate_id,
        len(plate.wells),
        plate.n_wells,
        f", seeded {plate.seeded_at.isoformat()}" if plate.seeded_at else "",
    )
    return plate


def _comment(table: RawTable, key: str) -> str | None:
    entry = table.comments.get(key)
    return entry[1] if entry and entry[1] else None


def _build(
    table: RawTable,
    problems: _Collector,
    plate_id: str,
    vocabulary: Mapping[str, Sequence[str]] | None,
    seeded_at: datetime | None,
    source: str,
) -> PlateProtocol:
    if not table.rows:
        problems.add(
            None,
            None,
            "no header row and no wells; the first row must name the "
            "columns (well, " + ", ".join(LABELS) + ", seeded_at)",
        )
        return PlateProtocol(plate_id, source, {})
    try:
        plate_io.check_text(plate_id)
    except ValueError as error:
        problems.add(table.comments.get("plate_id", (None, ""))[0], "plate_id", str(error))
    (header_row, header), *rows = table.rows
    columns = _map_columns(header_row, header, rows, problems)
    if not rows:
        problems.add(header_row, None, "the plate map lists no wells")
    wells = _collect_wells(rows, columns, vocabulary, problems)
    default = _plate_seeded_at(table, seeded_at, wells, columns, problems)
    if default is not None:
        wells = {
            name: w if w.seeded_at else WellProtocol(name, w.labels, default, w.annotations)
            for name, w in wells.items()
        }
    return PlateProtocol(plate_id, source, wells, default)


def _collect_wells(
    rows: list[tuple[int, list[Cell]]],
    columns: list[_Column],
    vocabulary: Mapping[str, Sequence[str]] | None,
    problems: _Collector,
) -> dict[str, WellProtocol]:
    wells: dict[str, WellProtocol] = {}
    first_row: dict[str, int] = {}
    for number, cells in rows:
        protocol = _parse_row(number, cells, columns, vocabulary, problems)
        if protocol is None:
            continue
        if protocol.well in first_row:
            twice = f"well {protocol.well} is listed twice (also on row {first_row[protocol.well]})"
            problems.add(number, _header_of(columns, "well"), twice)
            continue
        first_row[protocol.well] = number
        wells[protocol.well] = protocol
    return wells


def _header_of(columns: list[_Column], kind: str) -> str | None:
    return next((c.header for c in columns if c.kind == kind), None)


def _map_columns(
    number: int, header: list[Cell], rows: list[tuple[int, list[Cell]]], problems: _Collector
) -> list[_Column]:
    columns: list[_Column] = []
    seen: dict[str, str] = {}
    width = max([len(header)] + [len(cells) for _, cells in rows])
    for index in range(width):
        try:
            text = "" if index >= len(header) else plate_io.cell_text(header[index])
        except ValueError as error:
            problems.add(number, plate_io.column_letter(index), f"header {error}")
            continue
        if not text:
            if any(index < len(c) and not is_blank(c[index]) for _, c in rows):
                problems.add(
                    number,
                    plate_io.column_letter(index),
                    "this column has values but no header; name it or delete it",
                )
            continue
        kind, name, hint = plate_io.classify_column(text, LABELS)
        if hint:
            problems.add(number, text, hint)
            continue
        if kind != "annotation" and name in seen:
            problems.add(number, text, f"names the same column as '{seen[name]}'; keep one")
            continue
        seen[name] = text
        columns.append(_Column(index, text, kind, name))
    if "well" not in seen:
        found = ", ".join(c.header for c in columns) or "none"
        problems.add(number, None, f"no 'well' column (found: {found}); add one with A1..P24")
    return columns


def _parse_row(
    number: int,
    cells: list[Cell],
    columns: list[_Column],
    vocabulary: Mapping[str, Sequence[str]] | None,
    problems: _Collector,
) -> WellProtocol | None:
    well: str | None = None
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    time: datetime | None = None
    ok = True
    for column in columns:
        cell = cells[column.index] if column.index < len(cells) else None
        if is_blank(cell) and column.kind != "well":
            continue
        try:
            if column.kind == "well":
                if is_blank(cell):
                    raise ValueError("the well is blank; every row needs a well like A1")
                well = normalise_well(plate_io.cell_text(cell))
            elif column.kind == "label":
                valid = (vocabulary or {}).get(column.name)
                labels[column.name] = plate_io.label_value(
                    column.name, cell, valid, ordinal=column.name in ORDINAL_LABELS
                )
            elif column.kind == "seeded_at":
                time = parse_time(cell)
            else:
                annotations[column.header] = plate_io.cell_text(cell)
        except (ValueError, WellError) as error:
            problems.add(number, column.header, str(error))
            ok = ok and column.kind != "well"
    if well is None or not ok:
        return None
    return WellProtocol(well, labels, time, annotations)


def _plate_seeded_at(
    table: RawTable,
    given: datetime | None,
    wells: dict[str, WellProtocol],
    columns: list[_Column],
    problems: _Collector,
) -> datetime | None:
    if given is not None:
        return to_utc(given)
    if "seeded_at" in table.comments:
        number, text = table.comments["seeded_at"]
        try:
            return parse_time(text)
        except ValueError as error:
            problems.add(number, "seeded_at", f"in the comment: {error}")
            return None
    times = {protocol.seeded_at for protocol in wells.values()}
    if len(times) == 1 and None not in times and _header_of(columns, "seeded_at"):
        return times.pop()
    return None


__all__ = [
    "LABELS",
    "ORDINAL_LABELS",
    "PlateProtocol",
    "PlateProtocolError",
    "Problem",
    "WellProtocol",
    "load_plate_protocol",
    "parse_time",
    "to_utc",
]
