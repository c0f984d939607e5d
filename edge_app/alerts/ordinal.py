"""Label values compared as a person would: names loosely, ordinal labels with a tolerance.

Seeding density compares on a log scale (``density_fold``: 1.5 means within 1.5x), time in
hours. Technical replicate, microscope and magnification are recorded but never alert by
default (the paper shows them to be acquisition artefacts or unlearnable); biological
replicates are expected to differ a little, so they do not alert either.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Recorded, never alerted on by default.
SILENT_LABELS = frozenset({"technical_rep", "microscope", "magnification", "biological_rep"})
#: Labels protocol evidence is gathered for by default.
ALERT_LABELS = ("cell_line", "culture_medium", "seeding_density", "formation_method")
#: Which label a well's evidence is attributed to when several labels' evidence is equal
#: (the same replicate groups differ in all of them): the more visible label first.
ATTRIBUTION_ORDER = ("cell_line", "formation_method", "seeding_density", "culture_medium")
ORDINAL = frozenset({"seeding_density", "timepoint"})
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class OrdinalTolerance:
    """How far an ordinal value may sit from the expected one and still agree."""

    density_fold: float = 1.5
    hours: float = 12.0


def number(text: object) -> float | None:
    match = _NUMBER.search(str(text).replace(",", ""))
    return float(match.group()) if match else None


def canon(text: object) -> str:
    """Case- and punctuation-insensitive spelling (``hct-116`` == ``HCT116``)."""
    return re.sub(r"[^0-9a-z]", "", str(text).casefold())


def within_tolerance(label: str, a: object, b: object, *, density_fold: float = 1.5,
                     hours: float = 12.0) -> bool:
    """True when two values of ``label`` agree (ordinal labels: within the tolerance)."""
    if label not in ORDINAL:
        return canon(a) == canon(b)
    x, y = number(a), number(b)
    if x is None or y is None:
        return canon(a) == canon(b)
    if label == "seeding_density":
        return abs(math.log(max(x, 1e-9) / max(y, 1e-9))) <= math.log(density_fold) + 1e-9
    return abs(x - y) <= hours


def agrees(label: str, expected: str, members: set[str], tol: OrdinalTolerance,
           ordinal: bool) -> bool:
    """True when ``expected`` matches one of ``members`` (ordinal: within tolerance)."""
    if not ordinal:
        return any(canon(m) == canon(expected) for m in members)
    return any(within_tolerance(label, expected, m, density_fold=tol.density_fold,
                                hours=tol.hours) and number(m) is not None for m in members)
