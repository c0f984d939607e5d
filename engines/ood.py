"""Out-of-distribution score of an IPP embedding: Mahalanobis distance to class-conditional
Gaussians with a shared covariance (Lee, Lee, Lee & Shin, NeurIPS 2018), pure numpy.

Fit (trainer, :func:`fit_ood`): standardise the features, keep the first ``dims`` principal
components (stability: a wide embedding from a few thousand frames has a singular
covariance), estimate one mean per class of one head and the pooled within-class covariance
(with a small ridge), invert it. The shipped IPP bundle scores its ``ood_features`` output
(channel mean and spread of the backbone's first two stages): on the pooled embedding the
same detector could not tell a new microscope or real images from the atlas. Score
(runtime, :func:`ood_scores`): the smallest Mahalanobis distance of a frame's projected
features to any class mean. The threshold is a conformal
quantile of held-out in-domain frames' scores (:func:`conformal_quantile`): an in-domain frame
exceeds it with probability at most ``1 - quantile``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Ridge added to the pooled covariance, relative to its mean eigenvalue.
SHRINKAGE = 1e-3


class OODError(ValueError):
    """OOD statistics that cannot be fitted or used; the message says why."""


@dataclass(frozen=True)
class OODStats:
    """Projection and Gaussians of one embedding space (arrays float64)."""

    center: np.ndarray = field(compare=False)  # [D]
    scale: np.ndarray = field(compare=False)  # [D]
    components: np.ndarray = field(compare=False)  # [D, dims]
    class_means: np.ndarray = field(compare=False)  # [K, dims]
    precision: np.ndarray = field(compare=False)  # [dims, dims]

    @property
    def width(self) -> int:
        return int(self.center.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """What the bundle's ``ood.npz`` holds (float32)."""
        return {"center": self.center.astype(np.float32),
                "scale": self.scale.astype(np.float32),
                "components": self.components.astype(np.float32),
                "class_means": self.class_means.astype(np.float32),
                "precision": self.precision.astype(np.float32)}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> OODStats:
        names = ("center", "scale", "components", "class_means", "precision")
        missing = set(names) - set(arrays)
        if missing:
            raise OODError(f"OOD statistics lack {sorted(missing)}")
        return cls(*(np.asarray(arrays[k], np.float64) for k in names))

    @classmethod
    def load(cls, path: Path) -> OODStats:
        with np.load(path, allow_pickle=False) as data:
            return cls.from_arrays({k: data[k] for k in data.files})


def fit_ood(embeddings: np.ndarray, labels: np.ndarray, dims: int = 64,
            shrinkage: float = SHRINKAGE) -> OODStats:
    """Class means and shared precision in the first ``dims`` principal components.

    Args:
        embeddings: [N, D] in-domain embeddings; labels: [N] class indices (negative: unknown,
            used for the projection only).

    Raises:
        OODError: fewer than two labelled classes or fewer frames than dimensions.
    """
    x = np.asarray(embeddings, np.float64)
    y = np.asarray(labels, np.int64)
    if x.ndim != 2 or y.shape != (len(x),):
        raise OODError(f"need embeddings [N, D] and labels [N], got {x.shape}, {y.shape}")
    classes = np.unique(y[y >= 0])
    dims = min(dims, x.shape[1], len(x) - 1)
    if len(classes) < 2 or len(x) <= dims:
        raise OODError(f"{len(x)} frames of {len(classes)} classes cannot fit {dims} dims")
    center = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), 1e-6 * max(float(np.abs(x).max()), 1e-12))
    _, _, vt = np.linalg.svd((x - center) / scale, full_matrices=False)
    components = vt[:dims].T
    z, zy = (x - center) / scale @ components, y
    means = np.zeros((int(y.max()) + 1, dims))
    residuals = []
    for k in classes:
        means[k] = z[zy == k].mean(axis=0)
        residuals.append(z[zy == k] - means[k])
    r = np.concatenate(residuals)
    covariance = r.T @ r / max(len(r) - len(classes), 1)
    ridge = shrinkage * float(np.trace(covariance)) / dims
    precision = np.linalg.inv(covariance + ridge * np.eye(dims))
    present = np.zeros(len(means), bool)
    present[classes] = True
    return OODStats(center, scale, components, means[present], (precision + precision.T) / 2)


def ood_scores(stats: OODStats, embeddings: np.ndarray) -> np.ndarray:
    """[N] smallest Mahalanobis distance of each embedding to a class mean."""
    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2 or x.shape[1] != stats.width:
        raise OODError(f"embeddings of shape {x.shape}; the statistics expect width "
                       f"{stats.width}")
    z = (x - stats.center) / stats.scale @ stats.components
    diff = z[:, None, :] - stats.class_means[None]
    squared = np.einsum("nkd,de,nke->nk", diff, stats.precision, diff)
    return np.sqrt(np.maximum(squared.min(axis=1), 0.0))


def conformal_quantile(scores: np.ndarray, quantile: float) -> float:
    """The ``ceil((n + 1) * quantile)``-th smallest score (inf when n is too small)."""
    if not 0.0 < quantile < 1.0:
        raise OODError(f"quantile must be in (0, 1), got {quantile}")
    ordered = np.sort(np.asarray(scores, np.float64))
    k = math.ceil((len(ordered) + 1) * quantile)
    return math.inf if k > len(ordered) else float(ordered[k - 1])

