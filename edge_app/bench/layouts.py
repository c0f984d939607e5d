"""Plate layouts with replicate groups, for benchmarks and the demo.

A condition is one combination of label values that one microscope images (its cell lines x
media x formation methods x seeding densities in the vocabulary). A layout fills a plate with
replicate groups of ``group_min``-``group_max`` neighbouring wells (row-major), one distinct
condition per group. :func:`with_unseen_microscope` adds a microscope with its own optics that
no engine was trained on, imaging the same conditions as a known one.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_app.simulation.vocab import Vocabulary

#: Plate size -> (rows, columns).
PLATE_FORMATS: dict[int, tuple[int, int]] = {24: (4, 6), 48: (6, 8), 96: (8, 12), 384: (16, 24)}
CONDITION_LABELS = ("cell_line", "culture_medium", "formation_method", "seeding_density")
#: A microscope absent from the engines' training data: other camera, optics and background.
UNSEEN_MICROSCOPE = "NikonTi2"
UNSEEN_OPTICS = {
    "camera_pixel_um": 4.25, "native_width": 2048, "native_height": 2048, "bits": 16,
    "noise": 0.03, "gradient": 0.14, "vignetting": 0.22, "background": 0.68,
    "scale_bar": False, "blur": 1.2, "magnification": {"10X": 1.0},
}


@dataclass(frozen=True)
class Layout:
    """Well -> plate-map labels, and the replicate groups (condition -> wells)."""

    wells: dict[str, dict[str, str]]
    groups: tuple[tuple[str, ...], ...]

    def group_of(self, well: str) -> tuple[str, ...]:
        return next(g for g in self.groups if well in g)


def plate_wells(size: int) -> list[str]:
    """Row-major well names of a plate of ``size`` wells (24, 48, 96 or 384)."""
    if size not in PLATE_FORMATS:
        raise ValueError(f"plate size {size}: valid sizes are "
                         f"{', '.join(map(str, PLATE_FORMATS))}")
    rows, cols = PLATE_FORMATS[size]
    return [f"{chr(ord('A') + r)}{c + 1}" for r in range(rows) for c in range(cols)]


def with_unseen_microscope(vocab: Vocabulary, like: str = "OperaPhenix") -> Vocabulary:
    """``vocab`` plus :data:`UNSEEN_MICROSCOPE`, imaging the conditions ``like`` images."""
    scopes = dict(vocab.data["microscope"])
    base = scopes[vocab.canonical("microscope", like)]
    labels = {k: v for k, v in base.items() if k in (*CONDITION_LABELS, "timepoint")}
    scopes[UNSEEN_MICROSCOPE] = {**UNSEEN_OPTICS, **labels}
    return Vocabulary({**vocab.data, "microscope": scopes})


def conditions(vocab: Vocabulary, microscope: str) -> list[dict[str, str]]:
    """Every condition ``microscope`` images in ``vocab`` (label -> value)."""
    scope = vocab.effect("microscope", microscope)
    values = [sorted(str(v) for v in scope[label]) for label in CONDITION_LABELS]
    return [dict(zip(CONDITION_LABELS, combo, strict=True))
            for combo in itertools.product(*values)]


def _group_sizes(n: int, low: int, high: int, rng: np.random.Generator) -> list[int]:
    if not 1 <= low <= high:
        raise ValueError(f"replicate groups of {low}-{high} wells: need 1 <= min <= max")
    if n < low:
        raise ValueError(f"{n} wells cannot hold a replicate group of {low}")
    sizes, left = [], n
    while left > 0:
        size = left if left <= high else int(rng.integers(low, max(low, min(high, left - low))
                                                          + 1))
        sizes.append(size)
        left -= size
    return sizes


def replicate_layout(
    wells: Sequence[str], vocab: Vocabulary, microscope: str, rng: np.random.Generator,
    group_min: int = 3, group_max: int = 12, *, magnification: str | None = None,
) -> Layout:
    """Replicate groups over ``wells``, each a distinct condition of ``microscope``."""
    microscope = vocab.canonical("microscope", microscope)
    pool = conditions(vocab, microscope)
    sizes = _group_sizes(len(wells), group_min, group_max, rng)
    if len(sizes) > len(pool):
        raise ValueError(f"{microscope} images {len(pool)} conditions; {len(wells)} wells in "
                         f"groups of {group_min}-{group_max} need {len(sizes)}: raise the "
                         "group size")
    chosen = [pool[i] for i in rng.permutation(len(pool))[:len(sizes)]]
    scope = vocab.effect("microscope", microscope)
    lens = magnification or sorted(scope["magnification"])[0]
    layout: dict[str, dict[str, str]] = {}
    groups, start = [], 0
    for size, condition in zip(sizes, chosen, strict=True):
        group = tuple(wells[start:start + size])
        start += size
        groups.append(group)
        for i, well in enumerate(group):
            layout[well] = {**condition, "microscope": microscope, "magnification": lens,
                            "biological_rep": "B1", "technical_rep": f"T{i + 1}"}
    return Layout(layout, tuple(groups))


def write_plate_map(path: Path, wells: Mapping[str, Mapping[str, str]], seeded_at: str) -> Path:
    """A plate-map CSV (``well``, label columns, ``seeded_at``) the app loads."""
    columns = list(next(iter(wells.values())))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["well", *columns, "seeded_at"])
        for well, labels in wells.items():
            writer.writerow([well, *(labels[c] for c in columns), seeded_at])
    return path
