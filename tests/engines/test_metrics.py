"""One Dice, one SSIM, one p99: values, and every caller uses these functions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from engines import metrics


def test_dice_by_hand():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    assert metrics.dice(a, b) == 1.0  # both empty
    a[:4, :5] = True  # 20 px
    b[2:6, :5] = True  # 20 px, 10 shared
    assert metrics.dice(a, b) == pytest.approx(0.5)
    assert metrics.dice(a, ~a) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.dice(a, b[:5])


def test_ssim_is_the_gaussian_one_not_the_uniform_window():
    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.uniform(0, 1, (48, 48)), (0, 0), 2)  # smooth, like cells
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    gaussian = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False)
    uniform = structural_similarity(a, b, data_range=1.0)  # the runtime's former 7x7 window
    assert metrics.ssim(a, b) == pytest.approx(gaussian, abs=1e-12)
    assert abs(gaussian - uniform) > 0.01  # the two really differ, so the choice matters
    assert metrics.ssim(a, a) == pytest.approx(1.0)


def test_p99():
    values = list(range(1, 101))  # 1..100
    assert metrics.p99(values) == pytest.approx(np.percentile(values, 99))
    assert metrics.p99([5.0]) == 5.0
    assert np.isnan(metrics.p99([]))


def test_runtime_forecast_trainer_and_realdata_use_the_same_functions():
    from edge_app.pipeline.forecasting import WellHistory
    from engines import realdata
    from trainer import metrics as trainer_metrics

    assert realdata.dice is metrics.dice
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 1, (32, 32)), rng.uniform(0, 1, (32, 32))
    assert trainer_metrics.frame_ssim(a, b) == metrics.ssim(a, b)
    mask = a > 0.5
    assert trainer_metrics.mask_scores(mask, b > 0.5)["dice"] == metrics.dice(mask, b > 0.5)

    class Repeat:  # a forecaster that predicts the last frame: SSIM(last, new)
        context = 2

        def model_image(self, pixels):
            return pixels, np.asarray(pixels, np.float64)

        def meta(self, labels, gap):
            return None

        def forecast(self, frames, meta):
            return frames[-1]

    history = WellHistory(Repeat())
    key = ("P", "A1", 0)
    for hours, image in ((24.0, a), (48.0, a)):
        _, small = history.compare(key, image, hours, 100.0)
        history.remember(key, hours, 100.0, small)
    forecast, _ = history.compare(key, b, 72.0, 110.0)
    assert forecast.ssim == metrics.ssim(a, b)
