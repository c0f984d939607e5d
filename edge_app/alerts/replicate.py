"""Replicate evidence: does a well look like its own replicate group, or like another group?

The plate map defines groups: wells that share a *condition* (every alerting label equal) and,
per label, wells that share that label's value. For a well ``w``, a label ``L`` (plate-map
value ``v``) and each other value ``u`` of ``L`` on the plate (ordinal labels: outside the
tolerance), at one time point:

1. the well's vector (mean over its usable frames, i.e. sites) and every other well's are
   normalised per column with the plate's median / MAD and whitened with the pooled
   covariance of wells around their condition's mean (shrunk toward its diagonal, one
   reweighting step that leaves outlying wells out; reduced to leading components when the
   plate has few replicates);
2. own centre ``c_o``: the leave-one-out median of ``w``'s condition group (3+ wells; with
   exactly 2 others they must agree with each other, a check that does not look at ``w``);
   the direction toward ``u``: the mean of the ``u``-valued wells minus ``c_o`` ("groups",
   the default); or the additive effect of ``L = u`` minus that of ``L = v``, fitted on the
   plate's condition means without ``w`` ("additive"; "both" tests the two directions: see
   docs/alerting.md for why that is not the default);
3. ``t``: the projection of ``w - c_o`` on that unit direction, less its expected bias (the
   direction shares ``c_o``'s noise), over its standard deviation; a robust location/scale of
   ``t`` over all of the label's pairs on the plate (median / MAD, never below the
   theoretical 0 / 1) recalibrates it; the p-value is the Student-t tail with the pooled
   covariance's degrees of freedom;
4. the evidence counts only when ``w`` is nearer the ``u`` wells than ``c_o`` along that
   direction (it *looks like* them; else p = 1);
5. steps 1-4 run again on size alone (log area); the pair's p-value is the smallest of the
   tests (direction(s), size) times their number; the smallest p over the ``K``
   alternatives is multiplied by ``K`` (Bonferroni).

Assumptions (also in docs/alerting.md): under the null, a well's vector is its condition's
mean plus noise with the pooled covariance, roughly Gaussian in the direction tested, and
independent of other wells given the plate map; most wells of every group are labelled
correctly. Conditions with fewer than 3 wells on the plate say nothing (:data:`TOO_SMALL`).
A label whose groups look alike yields ``t`` of pure noise, so its p-values stay uniform and
it does not alert.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import stdtr

from edge_app.alerts.design import (
    MIN_GROUP,
    NO_OTHER_GROUP,
    TOO_SMALL,
    PlateDesign,
    plate_design,
)
from edge_app.alerts.features import SIZE_COLUMN
from edge_app.alerts.plate_stats import (
    MIN_DF,
    label_effects,
    loo_label_effects,
    own_centres,
    own_spread,
    reduce_embedding,
    robust_standardise,
    whiten,
)

__all__ = ["NO_OTHER_GROUP", "TOO_SMALL", "ReplicateEvidence", "ReplicateScorer",
           "plate_design"]


@dataclass(frozen=True)
class ReplicateEvidence:
    """One (well, label) at one time point: p-value, the group it resembles, and its own."""

    p: float
    z: float
    looks_like: str | None
    like_wells: tuple[str, ...]
    own_group: tuple[str, ...]
    well: str

    @property
    def own_wells(self) -> tuple[str, ...]:
        """The well's replicates (its condition group without it)."""
        return tuple(w for w in self.own_group if w != self.well)


@dataclass(frozen=True)
class SlotScores:
    """One time point's replicate evidence, as arrays over the design's tested pairs."""

    keys: list[tuple[str, str]]
    p: np.ndarray
    z: np.ndarray
    pair: np.ndarray
    design: PlateDesign
    #: Per tested pair (design rows ``rows``) and test ("all" columns, "size"): the
    #: recalibrated statistic and whether the well looked like the alternative; for
    #: combining time points (:mod:`edge_app.alerts.overtime`).
    rows: np.ndarray | None = None
    channels: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
    df: int = 0

    def evidence(self, i: int) -> ReplicateEvidence:
        """The :class:`ReplicateEvidence` of the ``i``-th key."""
        k = int(self.pair[i])
        d = self.design
        looks = d.values[k] if self.z[i] > -np.inf and self.p[i] < 1.0 else None
        return ReplicateEvidence(
            p=float(self.p[i]), z=float(self.z[i]), looks_like=looks,
            like_wells=d.names[d.alt[k]] if looks else (), own_group=d.names[d.own[k]],
            well=d.wells[d.well[k]])


class ReplicateScorer:
    """Scores every (well, label) of one time point of a plate against its replicates."""

    def __init__(self, labels: Sequence[str], *, ordinal: Sequence[str] = ("seeding_density",),
                 density_fold: float = 1.5, embed_dims: int = 8,
                 directions: str = "groups", size_column: int | None = SIZE_COLUMN) -> None:
        self.directions = directions
        #: The column of the hand-made vectors holding log size (``None``: no size test).
        self.size_column = size_column
        self.labels = tuple(labels)
        self.ordinal = frozenset(ordinal)
        self.density_fold = density_fold
        self.embed_dims = embed_dims

    def design(self, plate_labels: Mapping[str, Mapping[str, str]]) -> PlateDesign:
        return plate_design(plate_labels, self.labels, ordinal=self.ordinal,
                            density_fold=self.density_fold)

    def score(self, design: PlateDesign, present: np.ndarray, x: np.ndarray,
              embeddings: np.ndarray | None = None) -> SlotScores | None:
        """Evidence per tested (well, label) of the wells ``present`` (design indices).

        Each (well, label, alternative) is tested along the two directions in the whole
        vector (``directions="both"``; or one of ``"groups"``, ``"additive"``) and along size
        alone (column ``size_column``); the smallest p-value times the number of tests
        (Bonferroni) is the pair's. Size is the spheroid's primary readout and the one every
        label moves; in the whole vector its shift is diluted by a direction estimated from a
        dozen conditions, and a seeded value that is not on the plate (10000 cells where the
        plate has 2000 and 5000) lies off that direction.

        Args:
            present: [n] indices into ``design.wells`` of the wells with a vector, in ``x``'s
                row order; x: [n, d] hand-made vectors; embeddings: [n, D] or ``None``.

        Returns ``None`` while the plate has too few replicates to calibrate anything.
        """
        found = self._pairs(design, present, x, embeddings, "groups"
                            if self.directions == "both" else self.directions)
        if found is None:
            return None
        p, z, active, df = found
        channels = {"all": (z, p < 1.0)}
        tests = [found]
        if self.directions == "both":
            additive = self._pairs(design, present, x, embeddings, "additive")
            if additive is not None:
                channels["additive"] = (additive[1], additive[0] < 1.0)
                tests.append(additive)
        column = self.size_column
        if column is not None and x.shape[1] > column:
            size = self._pairs(design, present, x[:, [column]], None, own_scale=True)
            if size is not None:
                channels["size"] = (size[1], size[0] < 1.0)
                tests.append(size)
        if len(tests) > 1:
            p = np.minimum(1.0, len(tests) * np.min([t[0] for t in tests], axis=0))
            z = np.max([t[1] for t in tests], axis=0)
            df = min(t[3] for t in tests)
        scores = self._per_key(p, z, active, design)
        return replace(scores, rows=active, channels=channels, df=df)

    def _pairs(self, design: PlateDesign, present: np.ndarray, x: np.ndarray,
               embeddings: np.ndarray | None, directions: str = "groups",
               own_scale: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int] | None:
        """``(p, z, active pairs, df)`` of one set of columns (``None``: nothing to test yet);
        ``own_scale`` (one column): each well's statistic is divided by its group's own
        spread where that exceeds the pooled one (:func:`own_spread`)."""
        prepared = self.prepare(design, present, x, embeddings)
        if prepared is None:
            return None
        full, df = prepared
        mask = np.zeros(len(design.wells))
        mask[present] = 1.0
        counts = design.members @ mask
        centre, others, agree = own_centres(full, design.condition, present)
        active = np.flatnonzero((mask[design.well] > 0) & (counts[design.own] >= MIN_GROUP)
                                & (counts[design.alt] >= MIN_GROUP))
        if not len(active):
            return None
        effects = None
        if directions == "additive":  # per tested pair, fitted without its well
            wells, index = np.unique(design.well[active], return_inverse=True)
            loo = loo_label_effects(full, design, present, wells)
            effects = (loo[index, design.col_alt[active]]
                       - loo[index, design.col_own[active]])
        scale = own_spread(full, design.condition, present) if own_scale else None
        p, zs = self._statistics(full, effects, design.members @ full, counts,
                                 (centre, others, agree), design, active, df, scale)
        return p, zs, active, df

    def prepare(self, design: PlateDesign, present: np.ndarray, x: np.ndarray,
                embeddings: np.ndarray | None = None) -> tuple[np.ndarray, int] | None:
        """Whitened vectors, one row per design well (zeros where absent), and their df;
        ``None`` while the plate has too few replicates."""
        if len(present) < 2 * MIN_GROUP:
            return None
        z = robust_standardise(x)
        if embeddings is not None:
            z = np.hstack([z, robust_standardise(reduce_embedding(embeddings, self.embed_dims))])
        if not z.shape[1]:
            return None
        cond = np.unique(design.condition[present], return_inverse=True)[1]
        y, df = whiten(z, cond)
        if df < MIN_DF:
            return None
        full = np.zeros((len(design.wells), y.shape[1]))
        full[present] = y
        return full, df

    def explain(self, design: PlateDesign, present: np.ndarray, x: np.ndarray,
                well: int, embeddings: np.ndarray | None = None
                ) -> dict[tuple[int, str], float]:
        """Which single label change brings well ``well`` (a design index) nearest its
        counterfactual condition: per (label index, value) the squared whitened distance of
        the well to its own centre moved by that value's additive effect.

        For naming the label of an alert (after e-BH decided there is one): the replicate
        p-values test each label on its own, and a swapped cell line can look like another
        medium's wells too when the plate confounds them."""
        prepared = self.prepare(design, present, x, embeddings)
        rows = np.flatnonzero(design.well == well)
        if prepared is None or not len(rows) or well not in present:
            return {}
        y = prepared[0]
        centre, others, _ = own_centres(y, design.condition, present)
        if others[well] < 2:
            return {}
        effects = label_effects(y, design, present)
        moved = (centre[well] + effects[design.col_alt[rows]]
                 - effects[design.col_own[rows]])
        distance = ((y[well] - moved) ** 2).sum(axis=1)
        return {(int(design.label[r]), design.values[r]): float(d)
                for r, d in zip(rows, distance, strict=True)}

    # --- statistics ---------------------------------------------------------------------
    def _statistics(self, y: np.ndarray, effects: np.ndarray | None, sums: np.ndarray,
                    counts: np.ndarray,
                    own: tuple[np.ndarray, np.ndarray, np.ndarray], design: PlateDesign,
                    active: np.ndarray, df: int, scale: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        d = y.shape[1]
        alt, w = design.alt[active], design.well[active]
        yw = y[w]
        centre_own, m, agree = own[0][w], own[1][w], own[2][w]
        if effects is not None:
            direction = effects
        else:
            direction = sums[alt] / counts[alt][:, None] - centre_own
        norm = np.maximum(np.linalg.norm(direction, axis=1), 1e-9)
        t = ((yw - centre_own) * direction).sum(axis=1) / norm
        # variance of the own centre: a mean of 2, or a median (pi / 2m, conservative at 3)
        v_own = np.where(m >= 3, np.pi / (2.0 * np.maximum(m, 1.0)), 1.0 / np.maximum(m, 1.0))
        v_alt = 1.0 / counts[alt]
        bias = v_own / (v_own + v_alt) * np.minimum(norm, d * (v_own + v_alt) / norm)
        tc = (t - bias) / np.sqrt(1.0 + v_own)
        if scale is not None:
            tc = tc / scale[w]
        z = self._recalibrate(tc, design.label[active])
        p = np.where((t > norm / 2.0) & agree, stdtr(df, -z), 1.0)
        return p, z

    @staticmethod
    def _recalibrate(tc: np.ndarray, label: np.ndarray) -> np.ndarray:
        """Robust per-label location and scale of the plate's statistics (never below 0 / 1)."""
        z = tc.copy()
        for j in np.unique(label):
            sel = label == j
            if sel.sum() < 10:
                continue
            med = float(np.median(tc[sel]))
            mad = 1.4826 * float(np.median(np.abs(tc[sel] - med)))
            z[sel] = (tc[sel] - max(med, 0.0)) / max(mad, 1.0)
        return z

    def _per_key(self, p: np.ndarray, z: np.ndarray, active: np.ndarray, design: PlateDesign
                 ) -> SlotScores:
        """Per (well, label): the smallest p over its alternatives, times their number."""
        keys = design.well[active] * len(self.labels) + design.label[active]
        order = np.lexsort((p, keys))
        unique, first, count = np.unique(keys[order], return_index=True, return_counts=True)
        best = order[first]
        names = [(design.wells[k // len(self.labels)], self.labels[k % len(self.labels)])
                 for k in unique.tolist()]
        return SlotScores(names, np.minimum(1.0, p[best] * count), z[best], active[best],
                          design)


def slot_key(timepoint_index: int | None, hours: float | None) -> int:
    """Which time point a frame belongs to (replicates are compared within one)."""
    if timepoint_index is not None:
        return int(timepoint_index)
    return math.floor(hours + 0.5) if hours is not None else 0
