"""Replicate evidence over time: one test per (well, label) from all its time points.

At each time point the replicate scorer gives every tested pair (well, label, alternative
value) and test (the whole vector, size alone) a recalibrated statistic ``z``, roughly
standard normal for a correctly labelled well (:mod:`edge_app.alerts.replicate`). Frames of
one spheroid are dependent over time (its size and shape are its own), so the statistics of
a well are correlated, not independent; but a well that holds something else stays off at
every time point, while noise does not.

Per pair and test, the ``n`` time points' statistics are summed and divided by the standard
deviation of that sum under the null, ``sqrt(n + n (n - 1) rho)``, where ``rho`` is the
correlation of the statistic between consecutive time points, measured on the plate (all
pairs, nearly all of them null) plus a margin of ``1 / sqrt(pairs)``; consecutive time points
correlate most, so using their correlation for every pair of time points overstates the
variance (conservative). A time point where the well did not look like the alternative
contributes ``min(z, 0)``. The Student-t tail of the standardised sum is the pair's p-value;
the smaller of the two tests, doubled, and the smallest over the ``K`` alternatives times
``K`` (Bonferroni), is the (well, label)'s, then calibrated into an e-value.

A one-off quirk at one of three time points is diluted threefold; a deviation present at
every time point keeps its size and its noise shrinks as far as the plate's correlation
allows. A pair needs ``persist`` time points before it says anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import stdtr

from edge_app.alerts.replicate import SlotScores

Key = tuple[str, str]
#: Pairs present at two consecutive time points needed to measure their correlation.
MIN_PAIRS = 30


def slot_correlation(z: np.ndarray) -> float:
    """Mean correlation of consecutive rows of ``z`` (time x pairs, NaN where absent) over
    the pairs present in both, plus ``1 / sqrt(pairs)``, clipped to [0, 1]; 1 (no gain from
    averaging) when it cannot be measured."""
    found, weights = [], []
    for a in range(len(z) - 1):
        both = np.isfinite(z[a]) & np.isfinite(z[a + 1])
        n = int(both.sum())
        if n < MIN_PAIRS:
            continue
        x, y = z[a, both], z[a + 1, both]
        if x.std() < 1e-12 or y.std() < 1e-12:
            continue
        found.append(float(np.corrcoef(x, y)[0, 1]) + 1.0 / math.sqrt(n))
        weights.append(n)
    if not found:
        return 1.0
    return float(np.clip(np.average(found, weights=weights), 0.0, 1.0))


def combined_p(scores: Mapping[int, SlotScores], persist: int) -> dict[Key, float]:
    """Per (well, label): the p-value of its time points together (module doc)."""
    slots = [scores[s] for s in sorted(scores) if scores[s].channels is not None]
    if not slots:
        return {}
    design = slots[0].design
    n_rows = len(design.well)
    df = min(s.df for s in slots)
    per_test = []
    names = sorted({name for s in slots for name in (s.channels or {})})
    for name in names:
        z = np.full((len(slots), n_rows), np.nan)
        for i, s in enumerate(slots):
            if s.channels and name in s.channels and s.rows is not None:
                stat, looks = s.channels[name]
                z[i, s.rows] = np.where(looks, stat, np.minimum(stat, 0.0))
        n = np.isfinite(z).sum(axis=0)
        if not n.any():
            continue
        rho = slot_correlation(z)
        total = np.nansum(z, axis=0)
        zbar = total / np.sqrt(np.maximum(n + n * (n - 1) * rho, 1.0))
        per_test.append(np.where(n >= max(1, persist), stdtr(max(df, 1), -zbar), np.nan))
    if not per_test:
        return {}
    stacked = np.vstack(per_test)
    tested = np.isfinite(stacked)
    best = np.where(tested, stacked, 1.0).min(axis=0)
    p_row = np.where(tested.any(axis=0), np.minimum(1.0, tested.sum(axis=0) * best), np.nan)
    keys = design.well * len(design.labels) + design.label
    out: dict[Key, float] = {}
    live = np.flatnonzero(np.isfinite(p_row))
    if not len(live):
        return out
    order = live[np.lexsort((p_row[live], keys[live]))]
    unique, first, count = np.unique(keys[order], return_index=True, return_counts=True)
    for key, i, k in zip(unique.tolist(), first.tolist(), count.tolist(), strict=True):
        name = (design.wells[key // len(design.labels)], design.labels[key % len(design.labels)])
        out[name] = min(1.0, float(p_row[order[i]]) * k)
    return out
