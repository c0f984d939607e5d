"""Protocol deviations injected into a simulated plate, and their ground-truth sidecars.

A deviation applies to a whole well (every site and time point): the labels actually seeded
differ from the plate map, or the well is empty, dirty or out of focus. The ground truth is
what alert benchmarks score against (``ground_truth.csv`` + ``ground_truth.json``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.simulation.renderer import Artefacts
from edge_app.simulation.vocab import ProtocolRow, Vocabulary

#: Deviation kind -> the label it changes ("" for quality deviations).
DEVIATION_KINDS: dict[str, str] = {
    "swapped_cell_line": "cell_line",
    "wrong_medium": "culture_medium",
    "wrong_density": "seeding_density",
    "wrong_formation_method": "formation_method",
    "empty_well": "",
    "debris": "",
    "out_of_focus": "",
}
GROUND_TRUTH_COLUMNS = ("plate_id", "well", "kind", "label", "expected", "actual")


@dataclass(frozen=True)
class Deviation:
    """What went wrong in one well: ``label`` was ``expected`` but is ``actual``."""

    plate_id: str
    well: str
    kind: str
    label: str
    expected: str
    actual: str


def plan_deviations(
    plate_id: str,
    rows: Mapping[str, ProtocolRow],
    fraction: float,
    rng: np.random.Generator,
    vocab: Vocabulary,
    kinds: Sequence[str] = (),
) -> list[Deviation]:
    """Pick ``round(fraction * wells)`` wells (at least one when ``fraction > 0``) and kinds.

    Kinds (``kinds``, default all) are dealt from a shuffled cycle, so every kind appears
    once enough wells deviate.
    """
    unknown = sorted(set(kinds) - set(DEVIATION_KINDS))
    if unknown:
        raise ValueError(f"unknown deviation kind(s) {unknown}; "
                         f"valid: {', '.join(DEVIATION_KINDS)}")
    wells = sorted(rows)
    count = min(len(wells), max(1 if fraction > 0 else 0, round(fraction * len(wells))))
    chosen = [wells[i] for i in rng.permutation(len(wells))[:count]]
    dealt = [str(k) for k in rng.permutation(list(kinds or DEVIATION_KINDS))]
    plan = []
    for i, well in enumerate(sorted(chosen)):
        kind = dealt[i % len(dealt)]
        expected, actual = _values(kind, well, rows, rng, vocab)
        plan.append(Deviation(plate_id, well, kind, DEVIATION_KINDS[kind], expected, actual))
    return plan


def _values(
    kind: str,
    well: str,
    rows: Mapping[str, ProtocolRow],
    rng: np.random.Generator,
    vocab: Vocabulary,
) -> tuple[str, str]:
    label = DEVIATION_KINDS[kind]
    if not label:
        return "", ""
    expected = str(getattr(rows[well], label))
    if label == "seeding_density":
        return expected, str(_other_density(int(expected), vocab, rng))
    on_plate = {str(getattr(r, label)) for r in rows.values()} - {expected}
    pool = sorted(on_plate) if label == "cell_line" and on_plate else None
    pool = pool or [n for n in vocab.names(label) if n != expected]
    return expected, str(pool[int(rng.integers(len(pool)))])


def _other_density(expected: int, vocab: Vocabulary, rng: np.random.Generator) -> int:
    """A density at least 2.5-fold away, so the deviation is physically visible."""
    far = [
        int(d)
        for d in vocab.names("seeding_density")
        if abs(np.log(int(d) / expected)) >= np.log(2.5)
    ]
    return far[int(rng.integers(len(far)))] if far else expected * 4


def apply_deviation(
    row: ProtocolRow, deviation: Deviation | None, rng: np.random.Generator
) -> tuple[ProtocolRow, Artefacts]:
    """The row actually seeded in the well and the artefacts to render."""
    if deviation is None:
        return row, Artefacts()
    if deviation.kind == "empty_well":
        return row, Artefacts(empty=True, debris=int(rng.integers(0, 4)))
    if deviation.kind == "debris":
        return row, Artefacts(debris=int(rng.integers(20, 60)))
    if deviation.kind == "out_of_focus":
        return row, Artefacts(defocus_um=float(rng.uniform(25.0, 60.0)))
    value: Any = deviation.actual
    if deviation.label == "seeding_density":
        value = int(value)
    return row.with_labels(**{deviation.label: value}), Artefacts()


def write_ground_truth(
    out: Path, deviations: Sequence[Deviation], details: Mapping[str, Any]
) -> tuple[Path, Path]:
    """``ground_truth.csv`` (one row per deviating well) and ``ground_truth.json``."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "ground_truth.csv", out / "ground_truth.json"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=GROUND_TRUTH_COLUMNS)
        writer.writeheader()
        writer.writerows(asdict(d) for d in deviations)
    payload = {**details, "deviations": [asdict(d) for d in deviations]}
    json_path.write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return csv_path, json_path


def read_ground_truth(path: Path) -> list[Deviation]:
    """Deviations from a ``ground_truth.csv``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return [Deviation(**row) for row in csv.DictReader(handle)]
