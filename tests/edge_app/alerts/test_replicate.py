"""Replicate evidence on synthetic plates: mislabelled wells stand out, the rest stays quiet."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_app.alerts.plate_stats import (
    label_effects,
    loo_label_effects,
    loo_medians,
    own_spread,
)
from edge_app.alerts.replicate import (
    NO_OTHER_GROUP,
    TOO_SMALL,
    ReplicateScorer,
    slot_key,
)
from edge_app.core.wells import plate_wells

LABELS = ("cell_line", "culture_medium", "seeding_density", "formation_method")


def _plate(group: int = 12) -> dict[str, dict[str, str]]:
    """8 conditions (cell line x medium x density) in row-major groups of ``group`` wells."""
    conditions = list(itertools.product(["A", "B"], ["M1", "M2"], ["1000", "5000"]))
    return {w: dict(zip(LABELS, (*conditions[min(i // group, 7)], "ULA"), strict=True))
            for i, w in enumerate(plate_wells(96))}


def _vectors(plate, truth, rng, d=10, noise=0.5):
    """Cell line and density shift the vector; the medium changes nothing (invisible)."""
    directions = {k: rng.normal(size=d) for k in ("cell_line", "seeding_density")}
    for v in directions.values():
        v /= np.linalg.norm(v)
    shift = {"cell_line": {"A": 0.0, "B": 4.0}, "seeding_density": {"1000": 0.0, "5000": 4.0}}
    mix = np.eye(d) + 0.3 * rng.normal(size=(d, d))
    rows = []
    for well in plate:
        labels = {**plate[well], **truth.get(well, {})}
        mean = sum(shift[k][labels[k]] * directions[k] for k in shift)
        rows.append(mean + noise * mix @ rng.normal(size=d))
    return np.asarray(rows)


def _score(plate, x):
    scorer = ReplicateScorer(LABELS)
    design = scorer.design(plate)
    scores = scorer.score(design, np.arange(len(design.wells)), x)
    assert scores is not None
    return design, {k: scores.evidence(i) for i, k in enumerate(scores.keys)}


def test_loo_medians_match_the_definition():
    y = np.random.default_rng(0).normal(size=(7, 3))
    for n in (3, 4, 7):
        want = np.stack([np.median(np.delete(y[:n], i, 0), axis=0) for i in range(n)])
        np.testing.assert_allclose(loo_medians(y[:n]), want)


def test_mislabelled_wells_look_like_the_other_group():
    plate = _plate()  # B3: cell line A, density 5000; F7: cell line B, density 5000
    truth = {"B3": {"cell_line": "B"}, "F7": {"seeding_density": "1000"}}
    _, evidence = _score(plate, _vectors(plate, truth, np.random.default_rng(1)))
    swapped = evidence[("B3", "cell_line")]
    assert swapped.p < 1e-5 and swapped.looks_like == "B"
    assert "B3" not in swapped.own_wells and "B4" in swapped.own_wells
    assert all(plate[w]["cell_line"] == "B" for w in swapped.like_wells)
    denser = evidence[("F7", "seeding_density")]
    assert denser.p < 1e-5 and denser.looks_like == "1000"
    # the 1000-density wells include cell line B wells, so B3 leans their way too, but less:
    # the alert names the label with the strongest evidence
    assert evidence[("B3", "seeding_density")].p > 100 * swapped.p


@pytest.mark.parametrize("seed", range(4))
def test_clean_plate_p_values_are_not_too_small(seed):
    plate = _plate()
    _, evidence = _score(plate, _vectors(plate, {}, np.random.default_rng(10 + seed)))
    ps = np.asarray([e.p for e in evidence.values()])
    assert len(ps) > 200
    assert (ps < 0.01).mean() <= 0.03  # valid: at most the nominal rate, with a margin
    assert ps.min() > 1e-5  # nothing near what e-BH needs on a 96-well plate


def test_an_invisible_label_gives_no_evidence_against_its_wells():
    rng = np.random.default_rng(5)
    plate = _plate()
    truth = {w: {"culture_medium": "M2" if v["culture_medium"] == "M1" else "M1"}
             for w, v in list(plate.items())[::9]}  # mislabelled, but media look alike
    _, evidence = _score(plate, _vectors(plate, truth, rng))
    medium = [e.p for (w, label), e in evidence.items() if label == "culture_medium"]
    assert min(medium) > 1e-4


def test_small_groups_and_single_values_are_reported_not_scored():
    plate = _plate()
    for well in ("H10", "H11"):  # a condition of two wells
        plate[well] = {**plate[well], "cell_line": "C"}
    design = ReplicateScorer(LABELS).design(plate)
    assert design.untestable[("H10", "cell_line")] == TOO_SMALL
    assert design.untestable[("A1", "formation_method")] == NO_OTHER_GROUP  # every well ULA
    assert ("A1", "cell_line") not in design.untestable


def test_too_few_wells_yet_gives_no_scores():
    plate = _plate()
    scorer = ReplicateScorer(LABELS)
    design = scorer.design(plate)
    x = _vectors(plate, {}, np.random.default_rng(2))
    assert scorer.score(design, np.arange(4), x[:4]) is None


def test_slot_key_prefers_the_time_point_index():
    assert slot_key(2, 48.0) == 2
    assert slot_key(None, 47.6) == 48
    assert slot_key(None, None) == 0


@pytest.mark.parametrize("seed", range(6))
def test_size_alone_catches_a_density_beyond_the_plates_range(seed):
    """C5 (plate map 1000 cells) holds far more than the plate's densest wells: only its size
    is off, past the 5000 wells, so the whole-vector direction toward them misses it on some
    plates; the size test never does, and no other well comes near."""
    plate = _plate()
    rng = np.random.default_rng(seed)
    x = _vectors(plate, {}, rng)
    x[:, 0] = np.array([0.4 * (plate[w]["seeding_density"] == "5000") for w in plate]
                       ) + rng.normal(0, 0.1, len(x))
    x[list(plate).index("C5"), 0] += 1.2
    found = {}
    for column in (None, 0):
        scorer = ReplicateScorer(LABELS, size_column=column,
                                 directions="groups" if column is None else "both")
        design = scorer.design(plate)
        scores = scorer.score(design, np.arange(len(design.wells)), x)
        found[column] = {k: scores.evidence(i).p for i, k in enumerate(scores.keys)}
    assert found[0][("C5", "seeding_density")] < 1e-8
    assert min(p for k, p in found[0].items() if k[0] != "C5") > 1e-4
    if seed in (2, 4):  # the whole vector alone: nothing
        assert found[None][("C5", "seeding_density")] > 0.01


def test_own_spread_is_the_groups_when_wider_than_the_pooled_one():
    y = np.array([0.0, 0.5, -0.5, 0.2, 10.0, -8.0, 6.0, -12.0, 3.0])[:, None]
    condition = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    spread = own_spread(y, condition, np.arange(9))
    assert np.all(spread[:4] == 1.0)  # tighter than the pooled scale: the pooled one
    assert np.all(spread[4:] > 5.0)


def _confounded(rng, truth, medium_shift=4.0, d=10, noise=0.5):
    """Cell lines A, B, C; medium M2 only beside B and C: no (A, M2) group on the plate.
    Cell lines move the vector far (30 noise units), medium M2 a little (``medium_shift``)."""
    conditions = [("A", "M1"), ("B", "M1"), ("B", "M2"), ("C", "M1"), ("C", "M2"), ("A", "M1")]
    wells = plate_wells(96)
    plate = {w: {"cell_line": conditions[i // 16][0], "culture_medium": conditions[i // 16][1],
                 "seeding_density": "1000", "formation_method": "ULA"}
             for i, w in enumerate(wells)}
    unit = rng.normal(size=(4, d))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    line = {"A": 0.0 * unit[0], "B": 15.0 * unit[0], "C": 15.0 * unit[1]}
    rows = []
    for w in wells:
        labels = {**plate[w], **truth.get(w, {})}
        shift = medium_shift * unit[2] if labels["culture_medium"] == "M2" else 0.0
        rows.append(line[labels["cell_line"]] + shift + noise * rng.normal(size=d))
    return plate, np.asarray(rows)


@pytest.mark.parametrize("seed", range(3))
def test_a_label_change_is_found_where_the_plate_confounds_it(seed):
    """B2 (cell line A, medium M1) really holds M2. The M2 wells on the plate are all cell
    lines B and C, so the direction toward them is the cell lines' and B2 does not move along
    it; the additive direction (M2 minus M1 where both are on the plate) is the medium's."""
    plate, x = _confounded(np.random.default_rng(seed), {"B2": {"culture_medium": "M2"}})
    found = {}
    for directions in ("groups", "both"):
        scorer = ReplicateScorer(LABELS, directions=directions, size_column=None)
        design = scorer.design(plate)
        scores = scorer.score(design, np.arange(len(design.wells)), x)
        found[directions] = {k: scores.evidence(i).p for i, k in enumerate(scores.keys)}
    assert found["groups"][("B2", "culture_medium")] > 1e-3
    assert found["both"][("B2", "culture_medium")] < 1e-6
    assert min(p for k, p in found["both"].items() if k[0] != "B2") > 1e-4


@pytest.mark.parametrize("seed", range(3))
def test_additive_directions_of_an_invisible_label_stay_quiet(seed):
    """Medium M2 changes nothing: the additive M2 - M1 direction is estimation noise, and
    the medium's p-values stay valid."""
    plate, x = _confounded(np.random.default_rng(10 + seed), {}, medium_shift=0.0)
    scorer = ReplicateScorer(LABELS, directions="additive", size_column=None)
    design = scorer.design(plate)
    scores = scorer.score(design, np.arange(len(design.wells)), x)
    ps = np.asarray([scores.evidence(i).p for i, k in enumerate(scores.keys)
                     if k[1] == "culture_medium"])
    assert len(ps) == 96
    assert ps.min() > 1e-4 and (ps < 0.01).mean() <= 0.03


def test_leave_one_out_effects_ignore_the_well():
    """Fitted with the tested well inside, a small effect's direction leans toward the well's
    own noise; the refit without it does not move when the well does."""
    plate, x = _confounded(np.random.default_rng(3), {})
    design = ReplicateScorer(LABELS).design(plate)
    present = np.arange(len(design.wells))
    well = design.wells.index("C7")
    before = loo_label_effects(x, design, present, np.array([well]))
    moved = x.copy()
    moved[well] += 50.0
    np.testing.assert_allclose(loo_label_effects(moved, design, present, np.array([well])),
                               before, atol=1e-9)
    other = design.wells.index("C8")
    assert not np.allclose(loo_label_effects(moved, design, present, np.array([other])),
                           loo_label_effects(x, design, present, np.array([other])))
    # the batched refit is the plain one on the plate without the well
    keep = np.delete(present, well)
    np.testing.assert_allclose(before[0], label_effects(x, design, keep), atol=1e-9)
