"""p -> e calibration, averaging, and e-BH."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.alerts.ebh import EBHState, ebh_rejections, ebh_threshold
from edge_app.alerts.evalues import calibrate, combine_sources, mean_e, p_for_e


@pytest.mark.parametrize("kappa", [0.05, 0.1, 0.5])
def test_calibrated_uniform_p_has_mean_at_most_one(kappa):
    from scipy.integrate import quad

    # E[e] under a uniform p, by quadrature on a log scale (the integrand is singular at 0)
    mean, _ = quad(lambda u: calibrate(np.exp(u), kappa) * np.exp(u), np.log(1e-14), 0.0,
                   limit=400)
    assert mean <= 1.0 + 1e-6
    assert mean >= 1.0 - 1e-12**kappa - 1e-3  # only the clipped tail below 1e-12 is lost
    assert calibrate(1.0, kappa) == pytest.approx(kappa)


def test_calibrator_is_decreasing_and_refuses_bad_kappa():
    es = [calibrate(p) for p in (1e-8, 1e-4, 1e-2, 0.5, 1.0)]
    assert es == sorted(es, reverse=True)
    assert calibrate(0.0) == calibrate(1e-12)  # clipped, finite
    assert p_for_e(calibrate(1e-5)) == pytest.approx(1e-5, rel=1e-6)
    with pytest.raises(ValueError, match="kappa"):
        calibrate(0.1, kappa=1.0)


def test_averages_skip_missing_sources():
    assert mean_e([]) is None
    assert mean_e([2.0, 4.0]) == 3.0
    assert combine_sources([None, None]) is None
    assert combine_sources([10.0, None]) == 10.0
    assert combine_sources([10.0, 2.0]) == 6.0


def test_ebh_rejects_the_k_largest_that_clear_m_over_alpha_k():
    # m = 4, alpha = 0.5: thresholds 8, 4, 2.67, 2 for k = 1..4
    e = {"a": 9.0, "b": 4.5, "c": 1.0, "d": 0.5}
    assert ebh_rejections(e, 0.5) == {"a", "b"}
    assert ebh_rejections({"a": 7.9, "b": 2.0}, 0.5) == {"a", "b"}  # m=2, k=2: both >= 2
    assert ebh_rejections({"a": 3.9, "b": 1.0}, 0.5) == set()  # k=1 needs 4
    assert ebh_threshold(96, 0.05) == pytest.approx(1920.0)


def test_ebh_controls_false_discoveries_under_the_null():
    rng = np.random.default_rng(3)
    rejected = 0
    for _ in range(300):
        e = {i: calibrate(float(p)) for i, p in enumerate(rng.uniform(size=100))}
        rejected += bool(ebh_rejections(e, 0.1))
    assert rejected / 300 <= 0.1  # FWER = FDR under the global null


def test_ebh_state_recomputes_after_changes_only():
    state = EBHState(alpha=0.5)
    state.update("a", 100.0)
    state.update("b", 0.1)
    assert state.rejected() == {"a"} and state.m == 2
    state.update("a", None)
    assert state.rejected() == set() and state.m == 1
    assert state.e_value("b") == 0.1
