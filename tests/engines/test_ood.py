"""Mahalanobis out-of-distribution score (engines.ood) on data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from engines.ood import OODError, OODStats, conformal_quantile, fit_ood, ood_scores


def _domain(n: int, rng: np.random.Generator, shift: float = 0.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Three classes in 40 dims with a shared, correlated covariance; ``shift`` moves every
    frame along a direction of low in-domain variance (how a new microscope looks)."""
    mix = np.random.default_rng(0).normal(size=(40, 40)) / 6
    means = np.random.default_rng(1).normal(0, 3, (3, 40))
    labels = rng.integers(0, 3, n)
    x = means[labels] + rng.normal(size=(n, 40)) @ mix * np.linspace(3, 0.3, 40)
    x[:, -1] += shift
    return x * 50 + 1000, labels  # far from unit scale, as pooled features are


def test_in_domain_frames_exceed_the_threshold_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(2)
    fit_x, fit_y = _domain(1500, rng)
    stats = fit_ood(fit_x, fit_y, dims=40)
    held, _ = _domain(1000, rng)
    limit = conformal_quantile(ood_scores(stats, held), 0.95)
    fresh, _ = _domain(4000, rng)
    rate = float((ood_scores(stats, fresh) > limit).mean())
    assert 0.02 < rate < 0.09  # nominal 5%


def test_shifted_frames_score_higher_and_are_flagged() -> None:
    rng = np.random.default_rng(3)
    stats = fit_ood(*_domain(1500, rng), dims=40)
    limit = conformal_quantile(ood_scores(stats, _domain(1000, rng)[0]), 0.99)
    inside = ood_scores(stats, _domain(500, rng)[0])
    outside = ood_scores(stats, _domain(500, rng, shift=4.0)[0])
    assert np.median(outside) > 2 * np.median(inside)
    assert (outside > limit).mean() > 0.9 and (inside > limit).mean() < 0.05


def test_statistics_round_trip_through_arrays(tmp_path) -> None:
    rng = np.random.default_rng(4)
    stats = fit_ood(*_domain(600, rng), dims=8)
    np.savez(tmp_path / "ood.npz", **stats.arrays())
    again = OODStats.load(tmp_path / "ood.npz")
    x = _domain(50, rng)[0]
    np.testing.assert_allclose(ood_scores(again, x), ood_scores(stats, x), rtol=1e-3)
    assert again.components.shape == (40, 8) and again.class_means.shape == (3, 8)


def test_errors_say_what_is_wrong() -> None:
    rng = np.random.default_rng(5)
    x, _ = _domain(100, rng)
    with pytest.raises(OODError, match="classes"):
        fit_ood(x, np.zeros(100, int))
    stats = fit_ood(*_domain(300, rng), dims=4)
    with pytest.raises(OODError, match="width 40"):
        ood_scores(stats, x[:, :10])
    with pytest.raises(OODError, match="lack"):
        OODStats.from_arrays({"center": np.zeros(3)})
    assert conformal_quantile(np.arange(5.0), 0.99) == np.inf  # too few to say
