"""Well names on 96- and 384-well plates: ``A1``..``P24``; ``A01`` is accepted."""

from __future__ import annotations

import re

ROWS = "ABCDEFGHIJKLMNOP"
_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$")


class WellError(ValueError):
    """A string that is not a well name."""


def normalise_well(text: str) -> str:
    """Return the canonical well name (``"a01"`` -> ``"A1"``); raise :class:`WellError`."""
    match = _WELL.match(str(text))
    if match is None:
        raise WellError(f"{text!r} is not a well name (expected A1..P24, e.g. 'B7' or 'B07')")
    row, col = match.group(1).upper(), int(match.group(2))
    if not 1 <= col <= 24:
        raise WellError(f"{text!r}: column {col} is outside 1..24")
    return f"{row}{col}"


def well_index(well: str) -> tuple[int, int]:
    """Zero-based (row, column) of a canonical or loose well name."""
    name = normalise_well(well)
    return ROWS.index(name[0]), int(name[1:]) - 1


def plate_wells(n_wells: int = 96) -> list[str]:
    """All wells of a 96- or 384-well plate in row-major order."""
    shapes = {96: (8, 12), 384: (16, 24)}
    if n_wells not in shapes:
        raise ValueError(f"unsupported plate size {n_wells}; valid: {sorted(shapes)}")
    rows, cols = shapes[n_wells]
    return [f"{ROWS[r]}{c + 1}" for r in range(rows) for c in range(cols)]
