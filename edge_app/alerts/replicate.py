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
   the direction toward ``u``: the mean of the ``u``-valued wells minus ``c_o``;
3. ``t``: the projection of ``w - c_o`` on that unit direction, less its expected bias (the
   direction shares ``c_o``'s noise), over its standard deviation; a robust location/scale of
   ``t`` over all of the label's pairs on the plate (median / MAD, never below the
   theoretical 0 / 1) recalibrates it; the p-value is the Student-t tail with the pooled
   covariance's degrees of freedom;
4. the evidence counts only when ``w`` is nearer the ``u`` wells than ``c_o`` along that
   direction (it *looks like* them; else p = 1);
5. steps 1-4 run again on size alone (log area), and the pair's p-value is the smaller of the
   two, doubled; the smallest p over the ``K`` alternatives is multiplied by ``K``
   (Bonferroni).

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
from scipy.special import chdtr, chdtri, stdtr

from edge_app.alerts.design import (
    MIN_GROUP,
    NO_OTHER_GROUP,
    TOO_SMALL,
    PlateDesign,
    plate_design,
)
from edge_app.alerts.features import SIZE_COLUMN

__all__ = ["NO_OTHER_GROUP", "TOO_SMALL", "ReplicateEvidence", "ReplicateScorer",
           "plate_design"]

#: Replicate degrees of freedom (wells minus conditions) needed before any evidence.
MIN_DF = 8


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


def robust_standardise(x: np.ndarray) -> np.ndarray:
    """Columns centred on their median and scaled by 1.4826 MAD; constant columns dropped."""
    med = np.median(x, axis=0)
    mad = 1.4826 * np.median(np.abs(x - med), axis=0)
    keep = mad > 1e-9
    return (x[:, keep] - med[keep]) / mad[keep]


def reduce_embedding(e: np.ndarray, max_dims: int = 8) -> np.ndarray:
    """The first principal components of the wells' embeddings (plate-local PCA)."""
    k = min(max_dims, e.shape[0] // 10, e.shape[1])
    if k < 1:
        return np.zeros((e.shape[0], 0))
    centred = e - e.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :k] * s[:k]


def _residuals(z: np.ndarray, condition: np.ndarray) -> tuple[np.ndarray, int]:
    """Residuals from the condition means (conditions of one well give none) and their df."""
    counts = np.bincount(condition)
    sums = np.zeros((len(counts), z.shape[1]))
    np.add.at(sums, condition, z)
    means = sums / np.maximum(counts, 1)[:, None]
    resid = z - means[condition]
    resid[counts[condition] < 2] = 0.0
    return resid, int((counts[counts >= 2] - 1).sum())


def whiten(z: np.ndarray, condition: np.ndarray) -> tuple[np.ndarray, int]:
    """``z`` whitened by the pooled within-condition covariance, and that covariance's df.

    With few replicates (``df < 3 d``) the columns are first reduced to the ``df // 3``
    leading principal components of the plate, so the covariance stays estimable. One
    reweighting step leaves wells beyond the 97.5% chi-square quantile (a mislabelled well,
    most often) out of the covariance, which they would inflate exactly along the direction
    that reveals them. ``df`` is 0 when the plate cannot be whitened yet.
    """
    resid, df = _residuals(z, condition)
    if df < MIN_DF:
        return z, 0
    if df < 3 * z.shape[1]:
        k = max(1, df // 3)
        _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        z = z @ vt[:k].T
        resid, df = _residuals(z, condition)
    d = z.shape[1]
    cov = _shrunk(resid, df)
    dist = (np.linalg.solve(cov, resid.T) * resid.T).sum(axis=0)
    keep = dist <= chdtri(d, 0.025) * max(np.median(dist), 1e-9) / chdtri(d, 0.5)
    dropped = int((~keep).sum())
    if df - dropped >= 2 * d:
        # consistency factor of a 97.5% trimmed normal sample, so the scale stays unbiased
        cov = _shrunk(resid[keep], df - dropped) / (
            chdtr(d + 2, chdtri(d, 0.025)) / 0.975)
        df -= dropped
    chol = np.linalg.cholesky(cov)
    return np.linalg.solve(chol, z.T).T, df


def _shrunk(resid: np.ndarray, df: int) -> np.ndarray:
    d = resid.shape[1]
    cov = resid.T @ resid / max(df, 1)
    shrink = min(1.0, d / max(df, 1))
    return (1 - shrink) * cov + shrink * np.diag(np.diag(cov)) + 1e-3 * np.eye(d)


def loo_medians(y: np.ndarray) -> np.ndarray:
    """Row ``i``: the column-wise median of every row but ``i`` (leave-one-out medians)."""
    c = len(y)
    order = np.argsort(y, axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(c)[:, None].repeat(y.shape[1], 1), axis=0)
    s = np.take_along_axis(y, order, axis=0)
    m = c - 1

    def kth(k: int) -> np.ndarray:  # the k-th smallest of the others, per row and column
        idx = np.where(k < ranks, k, k + 1)
        return np.take_along_axis(s, idx, axis=0)

    if m % 2:
        return kth(m // 2)
    return 0.5 * (kth(m // 2 - 1) + kth(m // 2))


def own_centres(y: np.ndarray, condition: np.ndarray, present: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per well: the leave-one-out median of its condition's other present wells, how many
    there are, and whether they agree with each other (two others: within the 99% chi-square
    distance of replicates; more: always, the median resists one mislabelled well).

    The agreement check uses the other wells only, so it does not bias the well's p-value."""
    centre = np.zeros_like(y)
    others = np.zeros(len(y))
    agree = np.ones(len(y), bool)
    limit = 2.0 * chdtri(y.shape[1], 0.01)
    for g in np.unique(condition[present]):
        idx = present[condition[present] == g]
        others[idx] = len(idx) - 1
        if len(idx) < 2:
            continue
        centre[idx] = loo_medians(y[idx])
        if len(idx) == 3:
            for k in range(3):
                a, b = np.delete(idx, k)
                agree[idx[k]] = float(((y[a] - y[b]) ** 2).sum()) <= limit
    return centre, others, agree


def own_spread(y: np.ndarray, condition: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per well: the robust spread (1.4826 MAD) of its condition's other present wells along
    a one-column ``y``, never below 1 (the pooled scale): a group that varies more than the
    plate's replicates (real organoids' sizes) is judged by its own spread."""
    spread = np.ones(len(y))
    values = y[:, 0]
    for g in np.unique(condition[present]):
        idx = present[condition[present] == g]
        if len(idx) < 3:
            continue
        v = values[idx]
        centre = loo_medians(v[:, None])  # [k]: the median of the others
        dev = np.abs(v[None, :] - centre)  # row k: every well's distance from it
        np.fill_diagonal(dev, np.inf)  # ... but its own
        dev.sort(axis=1)
        m = len(idx) - 1
        mad = dev[:, m // 2] if m % 2 else 0.5 * (dev[:, m // 2 - 1] + dev[:, m // 2])
        spread[idx] = np.maximum(1.0, 1.4826 * mad)
    return spread


def label_effects(y: np.ndarray, design: PlateDesign, present: np.ndarray,
                  ridge: float = 0.5) -> np.ndarray:
    """Additive effect of every (label, value) on the whitened vector, fitted on the
    conditions' means (weighted by their wells; a little ridge where labels are confounded).

    The direction "``w`` as if its ``L`` were ``u``" is ``effect(L, u) - effect(L, v)``: it
    uses every condition of the plate, not only the ``u`` wells, whose other labels differ.
    """
    n_cond = design.onehot.shape[0]
    counts = np.bincount(design.condition[present], minlength=n_cond).astype(float)
    sums = np.zeros((n_cond, y.shape[1]))
    np.add.at(sums, design.condition[present], y[present])
    means = sums / np.maximum(counts, 1.0)[:, None]
    x = design.onehot
    gram = x.T @ (x * counts[:, None]) + ridge * np.eye(x.shape[1])
    gram[0, 0] -= ridge  # the intercept is not shrunk
    return np.linalg.solve(gram, x.T @ (means * counts[:, None]))


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

        Each (well, label, alternative) is tested twice: along the direction in the whole
        vector, and along size alone (column ``size_column``); the smaller p-value, doubled
        (Bonferroni), is the pair's. Size is the spheroid's primary readout and the one every
        label moves; in the whole vector its shift is diluted by a direction estimated from a
        dozen conditions, and a seeded value that is not on the plate (10000 cells where the
        plate has 2000 and 5000) lies off that direction.

        Args:
            present: [n] indices into ``design.wells`` of the wells with a vector, in ``x``'s
                row order; x: [n, d] hand-made vectors; embeddings: [n, D] or ``None``.

        Returns ``None`` while the plate has too few replicates to calibrate anything.
        """
        found = self._pairs(design, present, x, embeddings)
        if found is None:
            return None
        p, z, active, df = found
        channels = {"all": (z, p < 1.0)}
        column = self.size_column
        if column is not None and x.shape[1] > column:
            size = self._pairs(design, present, x[:, [column]], None, own_scale=True)
            if size is not None:
                channels["size"] = (size[1], size[0] < 1.0)
                p = np.minimum(1.0, 2.0 * np.minimum(p, size[0]))
                z = np.maximum(z, size[1])
                df = min(df, size[3])
        scores = self._per_key(p, z, active, design)
        return replace(scores, rows=active, channels=channels, df=df)

    def _pairs(self, design: PlateDesign, present: np.ndarray, x: np.ndarray,
               embeddings: np.ndarray | None, own_scale: bool = False
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
        effects = label_effects(full, design, present)
        active = np.flatnonzero((mask[design.well] > 0) & (counts[design.own] >= MIN_GROUP)
                                & (counts[design.alt] >= MIN_GROUP))
        if not len(active):
            return None
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
    def _statistics(self, y: np.ndarray, effects: np.ndarray, sums: np.ndarray,
                    counts: np.ndarray,
                    own: tuple[np.ndarray, np.ndarray, np.ndarray], design: PlateDesign,
                    active: np.ndarray, df: int, scale: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
        d = y.shape[1]
        alt, w = design.alt[active], design.well[active]
        yw = y[w]
        centre_own, m, agree = own[0][w], own[1][w], own[2][w]
        if self.directions == "additive":
            direction = effects[design.col_alt[active]] - effects[design.col_own[active]]
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
