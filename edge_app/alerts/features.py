"""What a frame looks like, as numbers the replicate evidence can compare across wells.

Two parts, both cheap: intensity statistics computed once per frame by the analyser
(:func:`appearance`, on a strided view of the frame at the mask's resolution) and a vector
assembled from a :class:`~edge_app.core.results.FrameResult` (:func:`frame_vector`): log
sizes and shape ratios from the nine descriptors, the intensity statistics and, when the IPP
engine exports one, its embedding. The values are plate-normalised later (median / MAD per
column over the plate's wells), so units and offsets do not matter; only their spread does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: Names of :func:`appearance`'s statistics, in vector order.
APPEARANCE_FEATURES = ("contrast", "inner_cv", "edge_ratio", "texture", "dark_fraction",
                       "coarse_texture", "radial_cv", "roughness")
_MAX_SIDE = 256
#: Shape descriptors used (log of the lengths and area; ratios as they are).
_LOG_SHAPE = ("area",)  # the other lengths follow from it and the ratios below
#: :func:`frame_vector`'s column holding log size (the replicate evidence tests it alone too).
SIZE_COLUMN = 0
_RATIO_SHAPE = ("eccentricity", "solidity", "extent", "circularity")


def _plane_at_mask(pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The frame sampled on the mask's grid (a strided view when the sizes divide)."""
    plane = np.asarray(pixels)
    if plane.ndim == 3:
        plane = plane.mean(axis=-1)
    (h, w), (mh, mw) = plane.shape[:2], mask.shape
    if h % mh == 0 and w % mw == 0:
        return plane[:: h // mh, :: w // mw].astype(np.float32, copy=False)
    rows = np.minimum((np.arange(mh) * h) // mh, h - 1)
    cols = np.minimum((np.arange(mw) * w) // mw, w - 1)
    return plane[np.ix_(rows, cols)].astype(np.float32, copy=False)


def appearance(pixels: np.ndarray, mask: np.ndarray | None) -> dict[str, float] | None:
    """Intensity statistics of the object in ``mask`` relative to the background.

    ``contrast`` (1 - inside / background median), ``inner_cv`` (spread inside), ``edge_ratio``
    (the rim's mean over the core's), ``texture`` and ``coarse_texture`` (mean absolute
    difference of pixels 1 and 4 apart inside, over the background level), ``dark_fraction``
    (share of the object darker than half the background), and the outline's ``radial_cv``
    and ``roughness``. ``None`` without an object.
    """
    if mask is None:
        return None
    mask = np.asarray(mask, bool)
    if mask.sum() < 16 or mask.all():
        return None
    step = max(1, -(-max(mask.shape) // _MAX_SIDE))  # at most ~256 px a side: cheap
    mask = mask[::step, ::step]
    view = _plane_at_mask(pixels, mask)
    inside, outside = view[mask], view[~mask]
    background = float(np.median(outside[::7]))  # a sample is plenty for the level
    scale = abs(background) if abs(background) > 1e-6 else 1.0
    inner_mean = float(inside.mean())
    core = mask.copy()
    core[1:-1, 1:-1] = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] \
        & mask[1:-1, 2:]
    rim = mask & ~core
    core_mean = float(view[core].mean()) if core.any() else inner_mean
    rim_mean = float(view[rim].mean()) if rim.any() else inner_mean
    return {
        "contrast": 1.0 - inner_mean / scale,
        "inner_cv": float(inside.std()) / max(abs(inner_mean), 1e-6),
        "edge_ratio": rim_mean / core_mean if abs(core_mean) > 1e-6 else 1.0,
        "texture": _texture(view, mask, 1) / scale,
        "dark_fraction": float((inside < 0.5 * background).mean()),
        "coarse_texture": _texture(view, mask, 4) / scale,
        **_outline(rim),
    }


def _texture(view: np.ndarray, mask: np.ndarray, step: int) -> float:
    """Mean absolute difference of pixels ``step`` apart (horizontally) inside the object."""
    if view.shape[1] <= step:
        return 0.0
    inside = mask[:, step:] & mask[:, :-step]
    diffs = np.abs(view[:, step:] - view[:, :-step])[inside]
    return float(diffs.mean()) if diffs.size else 0.0


def _outline(rim: np.ndarray, bins: int = 64) -> dict[str, float]:
    """The outline's radius around the centroid: its spread (``radial_cv``: lobes,
    elongation) and its bin-to-bin jitter over 64 angles (``roughness``: a ragged edge, blebs).
    """
    rows, cols = np.nonzero(rim)
    if len(rows) < 8:
        return {"radial_cv": 0.0, "roughness": 0.0}
    dy, dx = rows - rows.mean(), cols - cols.mean()
    radius = np.hypot(dy, dx)
    mean = max(float(radius.mean()), 1e-6)
    which = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * bins).astype(int) % bins
    count = np.bincount(which, minlength=bins)
    per_bin = np.bincount(which, weights=radius, minlength=bins)[count > 0] / count[count > 0]
    jitter = np.diff(np.append(per_bin, per_bin[:1])) if len(per_bin) > 2 else np.zeros(1)
    return {"radial_cv": float(radius.std()) / mean,
            "roughness": float(np.sqrt(np.mean(jitter**2))) / mean}


def _log(value: float) -> float:
    return math.log(max(float(value), 1e-6))


def frame_vector(result: Any) -> np.ndarray | None:
    """The frame's hand-made comparison vector (``None`` when it has no shape).

    Shape (log lengths + ratios), focus, and the intensity statistics when the analyser
    computed them. The IPP embedding is kept apart (:func:`frame_embedding`): it is wide and
    is reduced on the plate before it joins these.
    """
    shape = getattr(result, "shape", None)
    if shape is None:
        return None
    values = [_log(getattr(shape, name)) for name in _LOG_SHAPE]
    values += [float(getattr(shape, name)) for name in _RATIO_SHAPE]
    values.append(float(getattr(result, "focus", 0.0)))
    stats = getattr(result, "appearance", None)
    if stats:
        values += [float(stats.get(name, 0.0)) for name in APPEARANCE_FEATURES]
    vector = np.asarray(values, np.float64)
    return vector if np.all(np.isfinite(vector)) else None


def frame_embedding(result: Any) -> np.ndarray | None:
    """The IPP engine's embedding of the frame, when it exported one."""
    embedding = getattr(result, "embedding", None)
    if embedding is None or not len(embedding):
        return None
    vector = np.asarray(embedding, np.float64).ravel()
    return vector if np.all(np.isfinite(vector)) else None
