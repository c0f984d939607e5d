"""Replicate evidence over time: a steady deviation adds up, a one-off quirk does not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge_app.alerts.overtime import combined_p, slot_correlation
from edge_app.alerts.replicate import ReplicateScorer
from edge_app.core.wells import plate_wells

LABELS = ("cell_line", "culture_medium", "seeding_density", "formation_method")


def _plate() -> dict[str, dict[str, str]]:
    conditions = list(itertools.product(["A", "B"], ["M1", "M2"], ["1000", "5000"]))
    return {w: dict(zip(LABELS, (*conditions[i // 12], "ULA"), strict=True))
            for i, w in enumerate(plate_wells(96))}


def _time_points(plate, off: dict[str, list[float]], seed: int, rho: float = 0.7):
    """Three time points of 10-column vectors: cell line shifts a fixed direction; each well
    has its own lasting look (correlation ``rho`` between time points) plus fresh noise;
    ``off[well][t]`` moves the well that far toward the other cell line at time point t."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=10)
    direction /= np.linalg.norm(direction)
    identity = rng.normal(size=(len(plate), 10))
    out = []
    for t in range(3):
        rows = []
        for i, well in enumerate(plate):
            shift = 5.0 * (plate[well]["cell_line"] == "B")
            shift += (1 if plate[well]["cell_line"] == "A" else -1) * off.get(well, [0] * 3)[t]
            noise = np.sqrt(rho) * identity[i] + np.sqrt(1 - rho) * rng.normal(size=10)
            rows.append(shift * direction + noise)
        out.append(np.asarray(rows))
    return out


def _scores(plate, vectors):
    scorer = ReplicateScorer(LABELS, size_column=None)
    design = scorer.design(plate)
    return {t: scorer.score(design, np.arange(len(plate)), x) for t, x in enumerate(vectors)}


def test_slot_correlation_is_measured_with_a_margin():
    rng = np.random.default_rng(0)
    common = rng.normal(size=400)
    z = np.vstack([common + 0.5 * rng.normal(size=400) for _ in range(3)])
    assert 0.75 < slot_correlation(z) < 0.9  # 0.8 plus 1 / sqrt(400)
    assert slot_correlation(z[:1]) == 1.0  # one time point: nothing measured, no gain
    z[:, 350:] = np.nan
    assert slot_correlation(z[:, 330:]) == 1.0  # 20 pairs: too few


@pytest.mark.parametrize("seed", range(8))
def test_a_steady_deviation_adds_up_and_a_one_off_quirk_does_not(seed):
    plate = _plate()  # B3, C7: cell line A; B3 looks like B at every time point, C7 once
    scores = _scores(plate, _time_points(plate, {"B3": [4.0, 4.0, 4.0],
                                                 "C7": [6.0, 0.0, 0.0]}, seed))
    together = combined_p(scores, persist=2)
    steady = [s.evidence(s.keys.index(("B3", "cell_line"))).p for s in scores.values()]
    assert together[("B3", "cell_line")] < float(np.median(steady))  # than a typical one
    quirk = scores[0].evidence(scores[0].keys.index(("C7", "cell_line"))).p
    assert together[("C7", "cell_line")] > 100 * quirk
    clean = [p for (well, _), p in together.items() if well not in ("B3", "C7")]
    assert min(clean) > 1e-4


def test_nothing_before_persist_time_points():
    plate = _plate()
    scores = _scores(plate, _time_points(plate, {"B3": [5.0] * 3}, 0))
    assert combined_p({0: scores[0]}, persist=2) == {}
    assert ("B3", "cell_line") in combined_p({0: scores[0], 1: scores[1]}, persist=2)
