"""Replicate-group layouts, the unseen microscope, and restricting deviation kinds."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.bench.layouts import (
    UNSEEN_MICROSCOPE,
    conditions,
    plate_wells,
    replicate_layout,
    with_unseen_microscope,
)
from edge_app.simulation import Vocabulary
from edge_app.simulation.deviations import plan_deviations


@pytest.mark.parametrize("size", [24, 48, 96, 384])
def test_groups_cover_the_plate_with_distinct_conditions(size):
    vocab = Vocabulary.default()
    wells = plate_wells(size)
    layout = replicate_layout(wells, vocab, "OperaPhenix", np.random.default_rng(size), 3, 12)
    assert len(wells) == size and sorted(layout.wells) == sorted(wells)
    assert all(3 <= len(g) <= 12 for g in layout.groups)
    assert sum(len(g) for g in layout.groups) == size
    seen = [tuple(layout.wells[g[0]][k] for k in ("cell_line", "culture_medium",
                                                   "formation_method", "seeding_density"))
            for g in layout.groups]
    assert len(set(seen)) == len(seen)
    for group in layout.groups:  # one condition per group
        assert len({layout.wells[w]["cell_line"] for w in group}) == 1


def test_too_few_conditions_and_bad_sizes_are_one_line_errors():
    vocab = Vocabulary.default()
    with pytest.raises(ValueError, match="conditions"):  # IncucyteS3 images 3 conditions
        replicate_layout(plate_wells(96), vocab, "IncucyteS3", np.random.default_rng(0), 3, 4)
    with pytest.raises(ValueError, match="valid sizes"):
        plate_wells(95)


def test_unseen_microscope_has_its_own_optics_and_known_conditions():
    vocab = with_unseen_microscope(Vocabulary.default())
    assert UNSEEN_MICROSCOPE not in Vocabulary.default().names("microscope")
    assert conditions(vocab, UNSEEN_MICROSCOPE) == conditions(vocab, "OperaPhenix")
    unseen, phenix = (vocab.effect("microscope", m) for m in (UNSEEN_MICROSCOPE, "OperaPhenix"))
    assert unseen["background"] != phenix["background"]


def test_deviation_kinds_can_be_restricted():
    vocab = Vocabulary.default()
    layout = replicate_layout(plate_wells(48), vocab, "OperaPhenix", np.random.default_rng(1))
    rows = {w: vocab.row_from_mapping(labels, 24.0) for w, labels in layout.wells.items()}
    plan = plan_deviations("P", rows, 0.25, np.random.default_rng(2), vocab,
                           ("empty_well", "swapped_cell_line"))
    assert len(plan) == 12 and {d.kind for d in plan} == {"empty_well", "swapped_cell_line"}
    with pytest.raises(ValueError, match="unknown deviation kind"):
        plan_deviations("P", rows, 0.25, np.random.default_rng(2), vocab, ("typo",))
