"""Mondrian p-values and thresholds from stored calibration scores (engines.conformal)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from engines.bundle import Calibration
from engines.conformal import (
    CalibrationError,
    calibration_counts,
    mondrian_p_value,
    mondrian_p_values,
    mondrian_scores,
    quantile_threshold,
    threshold,
)

CLASSES = ("A", "B", "C")


def _calibration(**scores: tuple[float, ...]) -> Calibration:
    return Calibration(mondrian={"line": {k: tuple(sorted(v)) for k, v in scores.items()}})


def test_p_value_counts_calibration_scores_at_least_as_large() -> None:
    cal = _calibration(A=(0.1, 0.2, 0.3, 0.4), B=(0.5,), C=())
    # s = 1 - 0.75 = 0.25: scores 0.3 and 0.4 are >= s -> (1 + 2) / (4 + 1)
    assert mondrian_p_value(cal, "line", "A", 0.75) == pytest.approx(3 / 5)
    assert mondrian_p_value(cal, "line", "A", 0.0) == pytest.approx(1 / 5)  # s = 1: none
    assert mondrian_p_value(cal, "line", "A", 1.0) == pytest.approx(5 / 5)  # s = 0: all
    assert mondrian_p_value(cal, "line", "A", 0.8) == pytest.approx(4 / 5)  # tie at 0.2 counts
    assert mondrian_p_value(cal, "line", "C", 0.01) == 1.0  # no calibration frames: no evidence
    assert mondrian_p_values(cal, "line", {"A": 0.75, "B": 0.2}) == pytest.approx(
        {"A": 0.6, "B": 0.5})  # B: s = 0.8 > 0.5 -> (1 + 0) / 2
    assert calibration_counts(cal, "line") == {"A": 4, "B": 1, "C": 0}


def _frames(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable frames: class-dependent Gaussian logits, classes unbalanced."""
    labels = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    logits = rng.normal(0, 1.0, (n, 3))
    logits[np.arange(n), labels] += 1.2
    return softmax(logits, axis=1), labels


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_per_class_false_alarm_rate_stays_at_most_alpha(alpha: float) -> None:
    rng = np.random.default_rng(3)
    probs, labels = _frames(3000, rng)
    cal = Calibration(mondrian={"line": mondrian_scores(probs, labels, CLASSES)})
    test_probs, test_labels = _frames(6000, rng)
    for k, name in enumerate(CLASSES):
        rows = np.flatnonzero(test_labels == k)
        p = np.array([mondrian_p_value(cal, "line", name, test_probs[i, k]) for i in rows])
        rate = float((p <= alpha).mean())
        # Valid per class (a binomial margin of ~4 standard errors around alpha).
        margin = 4 * np.sqrt(alpha * (1 - alpha) / len(rows))
        assert rate <= alpha + margin, (name, rate)
        assert rate >= alpha - margin - 0.02, (name, rate)  # and not vacuous


def test_wrong_classes_get_small_p_values() -> None:
    rng = np.random.default_rng(4)
    probs, labels = _frames(3000, rng)
    cal = Calibration(mondrian={"line": mondrian_scores(probs, labels, CLASSES)})
    test_probs, test_labels = _frames(2000, rng)
    wrong = [(i, (y + 1) % 3) for i, y in enumerate(test_labels)]
    p = np.array([mondrian_p_value(cal, "line", CLASSES[k], test_probs[i, k]) for i, k in wrong])
    assert (p <= 0.1).mean() > 0.3  # power well above the 10% of a true class


def test_threshold_any_error_rate_from_stored_scores() -> None:
    scores = tuple(np.round(np.arange(1, 11) / 10, 6))
    cal = _calibration(A=scores[:5], B=scores[5:])
    assert threshold(cal, "line", 0.2) == pytest.approx(0.9)  # ceil(11 * 0.8) = 9th of 10
    assert threshold(cal, "line", 0.01) == 1.0  # too few scores: everything is in the set
    assert threshold(cal, "line", 0.37) == pytest.approx(quantile_threshold(np.array(scores),
                                                                            0.37))
    assert threshold(cal, "line", 0.2, cls="A") == pytest.approx(0.5)  # ceil(6 * .8) = 5th


def test_threshold_refuses_without_scores_and_names_what_exists() -> None:
    cal = Calibration(conformal={"line": {"0.05": 0.9}}, mondrian={"medium": {"X": (0.1,)}})
    with pytest.raises(CalibrationError, match=r"'line'.*medium.*0\.05"):
        threshold(cal, "line", 0.07)
    with pytest.raises(CalibrationError, match="error rate"):
        threshold(cal, "medium", 1.5)


def test_mondrian_scores_are_sorted_per_class_and_skip_unknown_labels() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]])
    scores = mondrian_scores(probs, np.array([0, 1, 0, -100]), CLASSES)
    assert scores == {"A": (0.3, 0.5), "B": (0.2,), "C": ()}
