"""Plate-local statistics for the replicate evidence: robust standardising, whitening by the
pooled within-condition covariance, leave-one-out group centres and spreads, and the additive
label effects (also refitted without each tested well).
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtr, chdtri

from edge_app.alerts.design import PlateDesign

#: Replicate degrees of freedom (wells minus conditions) needed before any evidence.
MIN_DF = 8


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


def loo_label_effects(y: np.ndarray, design: PlateDesign, present: np.ndarray,
                      wells: np.ndarray, ridge: float = 0.5) -> np.ndarray:
    """:func:`label_effects` refitted once per well in ``wells`` without that well: [n, p, d].

    A direction fitted with the tested well in it leans toward the well's own noise; where a
    label's true effect is small the direction *is* that noise, and the projection measures
    the well's distance from its group, not a shift toward the alternative."""
    n_cond = design.onehot.shape[0]
    counts = np.bincount(design.condition[present], minlength=n_cond).astype(float)
    sums = np.zeros((n_cond, y.shape[1]))
    np.add.at(sums, design.condition[present], y[present])
    x = design.onehot
    base = x.T @ (x * counts[:, None]) + ridge * np.eye(x.shape[1])
    base[0, 0] -= ridge
    rows = x[design.condition[wells]]  # [n, p]: each well's condition row
    gram = base[None] - rows[:, :, None] * rows[:, None, :]  # its condition has one well less
    rhs = (x.T @ sums)[None] - rows[:, :, None] * y[wells][:, None, :]
    return np.linalg.solve(gram, rhs)
