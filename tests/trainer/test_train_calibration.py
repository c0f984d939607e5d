"""Temperature scaling lowers ECE on over-confident logits; conformal sets reach coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from trainer import calibration as cal


def _overconfident(n: int, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident logits: 3x the calibrated ones (true temperature 3).

    Scores ``x ~ N(1.5 * onehot(y), 1)`` have the exact posterior ``softmax(1.5 x)``.
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    x = rng.normal(0, 1, (n, k))
    x[np.arange(n), labels] += 1.5
    return 3.0 * (1.5 * x), labels


def test_temperature_lowers_ece() -> None:
    logits, labels = _overconfident(4000)
    temperature = cal.fit_temperature(logits, labels)
    assert 2.4 < temperature < 3.6
    before = cal.expected_calibration_error(softmax(logits, 1), labels)
    after = cal.expected_calibration_error(softmax(logits / temperature, 1), labels)
    assert after < before / 3 and after < 0.03


def test_conformal_threshold_definition() -> None:
    scores = np.arange(1, 11) / 10  # 0.1 .. 1.0, n = 10
    assert cal.conformal_threshold(scores, 0.2) == 0.9  # ceil(11 * 0.8) = 9th smallest
    assert cal.conformal_threshold(scores, 0.01) == 1.0  # k = 11 > n
    with pytest.raises(ValueError):
        cal.conformal_threshold(scores, 0.0)


def test_conformal_coverage_on_held_out_data() -> None:
    logits, labels = _overconfident(6000, seed=1)
    calib = {"cell_line": logits[:3000]}, {"cell_line": labels[:3000]}
    held = {"cell_line": logits[3000:]}, {"cell_line": labels[3000:]}
    result = cal.calibrate_heads(*calib, alphas=(0.05, 0.1, 0.2))
    head = result["cell_line"]
    assert set(head["conformal"]) == {"0.05", "0.1", "0.2"}
    assert head["ece_after"] < head["ece_before"]
    covered = cal.check_coverage(result, *held)["cell_line"]
    for key, value in covered.items():
        assert abs(value - (1 - float(key))) < 0.02, (key, value)
    manifest = cal.manifest_calibration(result)
    assert manifest["temperature"]["cell_line"] == pytest.approx(head["temperature"])
    assert manifest["conformal"]["cell_line"]["0.05"] == head["conformal"]["0.05"]
    assert set(cal.calibration_metrics(result)) == {"ece_before/cell_line",
                                                    "ece_after/cell_line"}


def test_ignored_labels_are_left_out() -> None:
    logits, labels = _overconfident(500, seed=2)
    labels[:50] = -100
    result = cal.calibrate_head(logits, labels)
    assert result["n"] == 450


def test_scores_by_class_become_the_manifests_mondrian_scores() -> None:
    from engines.bundle import Calibration
    from engines.conformal import mondrian_p_value, threshold

    logits, labels = _overconfident(3000, k=3, seed=4)
    head = cal.calibrate_heads({"cell_line": logits}, {"cell_line": labels})
    by_class = head["cell_line"]["scores_by_class"]
    assert [len(by_class[str(k)]) for k in range(3)] == [int((labels == k).sum())
                                                         for k in range(3)]
    assert all(v == sorted(v) for v in by_class.values())
    body = cal.manifest_calibration(head, {"cell_line": ("A549", "HCT116", "MCF7")})
    manifest = Calibration(**body)
    assert set(manifest.mondrian["cell_line"]) == {"A549", "HCT116", "MCF7"}
    # the pooled threshold from the stored scores is the trainer's qhat at the same rate
    assert threshold(manifest, "cell_line", 0.05) == pytest.approx(
        head["cell_line"]["conformal"]["0.05"], abs=1e-6)
    assert mondrian_p_value(manifest, "cell_line", "MCF7", 1.0) == 1.0
    assert cal.manifest_calibration(head)["mondrian"] == {}  # no vocabulary, no names
