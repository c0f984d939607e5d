"""Per-head temperature scaling and split-conformal thresholds (numpy + scipy, no torch).

Fit on a calibration split's logits; the result is plain data for the bundle manifest::

    {head: {"temperature": T, "conformal": {"0.01": qhat, "0.05": qhat, ...},
            "scores_by_class": {"0": [sorted scores of class 0], ...},
            "ece_before": e0, "ece_after": e1, "n": n}}

Conformal score: ``1 - p(true class)`` on temperature-scaled probabilities; ``qhat`` is the
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile of the scores. At run time the prediction
set at error rate ``alpha`` is ``{k : 1 - p_k <= qhat}``, which holds the true class with
probability at least ``1 - alpha`` on exchangeable data. ``scores_by_class`` keeps every
score per true class, so the bundle can answer any error rate and any class's Mondrian
p-value (:mod:`engines.conformal`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

logger = logging.getLogger(__name__)

DEFAULT_ALPHAS = (0.01, 0.05, 0.1)
IGNORE_INDEX = -100


def _labelled(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"need logits [N,K] and labels [N], got {logits.shape}, {labels.shape}")
    keep = labels != IGNORE_INDEX
    return logits[keep], labels[keep]


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / T)``."""
    log_p = log_softmax(logits / temperature, axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray,
                    bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the NLL (bounded 1-D search over ``log T``)."""
    logits, labels = _labelled(logits, labels)
    if len(labels) == 0:
        return 1.0
    result = minimize_scalar(lambda log_t: nll(logits, labels, math.exp(log_t)),
                             bounds=(math.log(bounds[0]), math.log(bounds[1])),
                             method="bounded", options={"xatol": 1e-4})
    return float(math.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: ``sum_b |accuracy_b - confidence_b| * n_b / N`` over equal-width confidence bins."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels, np.int64)
    if len(labels) == 0:
        return 0.0
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.minimum((confidence * n_bins).astype(np.int64), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            ece += abs(correct[inside].mean() - confidence[inside].mean()) * inside.mean()
    return float(ece)


def conformal_scores(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 - p(true class)`` per row."""
    return 1.0 - np.asarray(probs)[np.arange(len(labels)), np.asarray(labels)]


def conformal_threshold(scores: np.ndarray, alpha: float) -> float:
    """``qhat``: the ``ceil((n+1)(1-alpha))``-th smallest score (1.0 when n is too small)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    ordered = np.sort(np.asarray(scores, np.float64))
    k = math.ceil((len(ordered) + 1) * (1 - alpha))
    return 1.0 if k > len(ordered) else float(ordered[k - 1])


def prediction_sets(probs: np.ndarray, qhat: float) -> np.ndarray:
    """Boolean ``[N, K]``: class ``k`` is in row ``n``'s set when ``1 - p_k <= qhat``."""
    return (1.0 - np.asarray(probs)) <= qhat + 1e-12


def coverage(probs: np.ndarray, labels: np.ndarray, qhat: float) -> float:
    """Fraction of rows whose prediction set holds the true class."""
    sets = prediction_sets(probs, qhat)
    return float(sets[np.arange(len(labels)), np.asarray(labels)].mean()) if len(labels) else 1.0


def alpha_key(alpha: float) -> str:
    """The manifest key of an error rate (``0.01`` -> ``"0.01"``)."""
    return f"{alpha:g}"


def calibrate_head(logits: np.ndarray, labels: np.ndarray,
                   alphas: Sequence[float] = DEFAULT_ALPHAS) -> dict[str, Any]:
    """Temperature, conformal thresholds and ECE before/after for one head."""
    logits, labels = _labelled(logits, labels)
    temperature = fit_temperature(logits, labels)
    before, after = softmax(logits, axis=1), softmax(logits / temperature, axis=1)
    scores = conformal_scores(after, labels)
    return {
        "temperature": temperature,
        "conformal": {alpha_key(a): conformal_threshold(scores, a) for a in alphas},
        "scores_by_class": {str(k): sorted(round(float(x), 6) for x in scores[labels == k])
                            for k in range(logits.shape[1])},
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "n": len(labels),
    }


def calibrate_heads(logits: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                    alphas: Sequence[float] = DEFAULT_ALPHAS) -> dict[str, dict[str, Any]]:
    """:func:`calibrate_head` for every head (logits and labels keyed by head name)."""
    result = {head: calibrate_head(logits[head], labels[head], alphas) for head in logits}
    for head, item in result.items():
        logger.info("calibration %s: T=%.3f ECE %.4f -> %.4f (n=%d)", head,
                    item["temperature"], item["ece_before"], item["ece_after"], item["n"])
    return result


def check_coverage(calibration: Mapping[str, Mapping[str, Any]],
                   logits: Mapping[str, np.ndarray],
                   labels: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Empirical coverage on a held-out set per head and error rate (``"0.05"`` -> 0.951)."""
    out: dict[str, dict[str, float]] = {}
    for head, item in calibration.items():
        head_logits, head_labels = _labelled(logits[head], labels[head])
        probs = softmax(head_logits / item["temperature"], axis=1)
        out[head] = {key: coverage(probs, head_labels, qhat)
                     for key, qhat in item["conformal"].items()}
    return out


def manifest_calibration(calibration: Mapping[str, Mapping[str, Any]],
                         vocabularies: Mapping[str, Sequence[str]] | None = None
                         ) -> dict[str, Any]:
    """``{"temperature": {head: T}, "conformal": {head: {"0.01": qhat}}, "mondrian": {head:
    {label: scores}}}`` for ``engines.bundle.Calibration(**...)`` (``mondrian`` needs the
    label ``vocabularies`` and calibrations with ``scores_by_class``)."""
    mondrian = {
        h: {str(label): tuple(c["scores_by_class"].get(str(k), ()))
            for k, label in enumerate(vocabularies[h])}
        for h, c in calibration.items()
        if vocabularies is not None and h in vocabularies and "scores_by_class" in c
    }
    return {
        "temperature": {h: float(c["temperature"]) for h, c in calibration.items()},
        "conformal": {h: {k: float(v) for k, v in c["conformal"].items()}
                      for h, c in calibration.items()},
        "mondrian": mondrian,
    }


def calibration_metrics(calibration: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Flat ``{"ece_before/<head>": .., "ece_after/<head>": ..}`` for manifest metrics."""
    flat = {}
    for head, item in calibration.items():
        flat[f"ece_before/{head}"] = float(item["ece_before"])
        flat[f"ece_after/{head}"] = float(item["ece_after"])
    return flat
