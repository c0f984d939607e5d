"""Metrics against scikit-learn / scikit-image references; intervals; confusion PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from sklearn import metrics as skm

from trainer import metrics


def test_mask_scores_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(size=(40, 50)) > 0.6
    pred = truth ^ (rng.uniform(size=truth.shape) > 0.9)
    scores = metrics.mask_scores(pred, truth)
    assert scores is not None
    t, p = truth.ravel(), pred.ravel()
    assert scores["f1"] == pytest.approx(skm.f1_score(t, p))
    assert scores["dice"] == pytest.approx(skm.f1_score(t, p))
    assert scores["iou"] == pytest.approx(skm.jaccard_score(t, p))
    assert scores["precision"] == pytest.approx(skm.precision_score(t, p))
    assert scores["recall"] == pytest.approx(skm.recall_score(t, p))
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(t, p))


def test_empty_empty_masks_are_excluded() -> None:
    empty = np.zeros((8, 8), bool)
    full = np.ones((8, 8), bool)
    assert metrics.mask_scores(empty, empty) is None
    assert metrics.mask_scores(empty, full)["dice"] == 0.0  # type: ignore[index]
    summary = metrics.segmentation_summary([empty, full, full], [empty, full, empty])
    assert summary["dice"].n == 2 and summary["dice"].mean == pytest.approx(0.5)


def test_classification_scores_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 6, 300)
    y_pred = np.where(rng.uniform(size=300) < 0.7, y_true, rng.integers(0, 8, 300))
    scores = metrics.classification_scores(y_true, y_pred, 8)
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    for name, fn in (("precision", skm.precision_score), ("recall", skm.recall_score),
                     ("f1", skm.f1_score)):
        assert scores[name] == pytest.approx(fn(y_true, y_pred, average="macro",
                                                zero_division=0)), name
    cm = metrics.confusion_matrix(y_true, y_pred, 8)
    assert np.array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=range(8)))


def test_frame_metrics_match_skimage() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(size=(48, 48))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    scores = metrics.frame_scores(b, a)
    assert scores["mse"] == pytest.approx(np.mean((a - b) ** 2))
    assert scores["psnr"] == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0))
    assert scores["ssim"] == pytest.approx(structural_similarity(
        a, b, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False))


def test_intervals() -> None:
    values = np.random.default_rng(4).normal(0.9, 0.05, 400)
    normal = metrics.interval(values)
    assert normal.mean == pytest.approx(values.mean())
    assert normal.ci95 == pytest.approx(1.96 * values.std(ddof=1) / 20)
    boot = metrics.bootstrap_interval(values, n_boot=2000, seed=1)
    assert boot.ci95 == pytest.approx(normal.ci95, rel=0.15)
    assert str(normal).startswith(f"{values.mean():.4f} ± ")


def test_confusion_png(tmp_path: Path) -> None:
    cm = np.array([[5, 1], [0, 7]])
    out = metrics.confusion_png(cm, ["HCT116", "MCF7"], tmp_path / "cm.png", "cell line")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000


def test_time_per_call_uses_the_injected_clock() -> None:
    ticks = iter(range(100))
    seconds = metrics.time_per_call(lambda: None, repeats=5, warmup=1,
                                    clock=lambda: float(next(ticks)) * 0.5)
    assert seconds == 0.5
