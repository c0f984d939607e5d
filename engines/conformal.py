"""Mondrian (class-conditional) split-conformal p-values and thresholds, pure numpy.

A bundle's :class:`~engines.bundle.Calibration` stores, per head and class, the sorted
calibration scores ``s_i = 1 - p(true class | x_i)`` (temperature-scaled probabilities) of the
calibration frames of that class. For a new frame and a class ``c`` with score
``s = 1 - p(c | x)``::

    p = (1 + #{calibration scores of class c >= s}) / (n_c + 1)

If the frame is exchangeable with the calibration frames of class ``c`` and its true class is
``c``, then ``P(p <= alpha) <= alpha`` for every ``alpha``: alerting on "the plate map's value
has p <= alpha" has a per-frame false-alarm rate of at most ``alpha``. The guarantee needs the
frame to come from the calibration domain (see :mod:`engines.ood`).

A class with no calibration frames gets ``p = 1`` (no evidence either way).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from engines.bundle import Calibration

#: Manifest scores are rounded to 6 decimals; a score this close counts as a tie (the
#: conservative side: ties raise the p-value).
TIE = 1e-6


class CalibrationError(ValueError):
    """A calibration question the bundle cannot answer; the message says what it has."""


def _head_scores(calibration: Calibration, head: str) -> Mapping[str, Sequence[float]]:
    scores = calibration.mondrian.get(head)
    if not scores:
        have = sorted(calibration.mondrian) or "none"
        table = sorted(calibration.conformal.get(head, {}))
        raise CalibrationError(
            f"the bundle has no Mondrian calibration scores for head {head!r} (heads with "
            f"scores: {have}; fixed error rates in its conformal table: {table or 'none'}); "
            "recalibrate it with 'sentinel train recalibrate --bundle BUNDLE'")
    return scores


def class_scores(calibration: Calibration, head: str, cls: str) -> np.ndarray:
    """The sorted calibration scores of one class (empty if the class had no frames)."""
    scores = _head_scores(calibration, head)
    return np.asarray(scores.get(cls, ()), np.float64)


def mondrian_p_value(calibration: Calibration, head: str, cls: str, prob: float) -> float:
    """The class-conditional conformal p-value of class ``cls`` given ``p(cls | x) = prob``.

    Raises:
        CalibrationError: the bundle has no scores for ``head``.
    """
    scores = class_scores(calibration, head, cls)
    score = 1.0 - float(prob)
    at_least = len(scores) - int(np.searchsorted(scores, score - TIE, side="left"))
    return (1.0 + at_least) / (len(scores) + 1.0)


def mondrian_p_values(calibration: Calibration, head: str,
                      probs: Mapping[str, float]) -> dict[str, float]:
    """:func:`mondrian_p_value` of every class in ``probs`` (label -> probability)."""
    return {cls: mondrian_p_value(calibration, head, cls, p) for cls, p in probs.items()}


def quantile_threshold(scores: np.ndarray, error_rate: float) -> float:
    """The ``ceil((n + 1)(1 - error_rate))``-th smallest score; 1.0 when n is too small."""
    if not 0.0 < error_rate < 1.0:
        raise CalibrationError(f"error rate must be in (0, 1), got {error_rate}")
    ordered = np.sort(np.asarray(scores, np.float64))
    k = math.ceil((len(ordered) + 1) * (1.0 - error_rate))
    return 1.0 if k > len(ordered) else float(ordered[k - 1])


def threshold(calibration: Calibration, head: str, error_rate: float,
              cls: str | None = None) -> float:
    """``qhat`` at ``error_rate`` from the stored scores: class ``k`` is in a frame's
    prediction set when ``1 - p_k <= qhat``.

    Args:
        cls: ``None`` pools every class (marginal coverage, as the old ``conformal`` table);
            a class name gives that class's own threshold (class-conditional coverage).

    Raises:
        CalibrationError: no scores for ``head``, or an error rate outside (0, 1).
    """
    scores = _head_scores(calibration, head)
    if cls is not None:
        return quantile_threshold(class_scores(calibration, head, cls), error_rate)
    pooled = np.concatenate([np.asarray(v, np.float64) for v in scores.values()])
    return quantile_threshold(pooled, error_rate)


def calibration_counts(calibration: Calibration, head: str) -> dict[str, int]:
    """Calibration frames per class of ``head`` (what each p-value's resolution rests on)."""
    return {cls: len(v) for cls, v in _head_scores(calibration, head).items()}


def mondrian_scores(probs: np.ndarray, labels: np.ndarray,
                    classes: Sequence[str]) -> dict[str, tuple[float, ...]]:
    """Sorted ``1 - p(true class)`` per class (6 decimals), for :class:`Calibration`.

    Args:
        probs: [N, K] temperature-scaled probabilities; labels: [N] class indices (rows with
            a negative label are ignored).
    """
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
    keep = labels >= 0
    probs, labels = probs[keep], labels[keep]
    scores = 1.0 - probs[np.arange(len(labels)), labels]
    return {name: tuple(float(round(x, 6)) for x in np.sort(scores[labels == k]))
            for k, name in enumerate(classes)}
