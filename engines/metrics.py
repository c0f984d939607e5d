"""One definition of each measure the runtime, the benchmarks and the trainer report.

- :func:`dice`: overlap of two boolean masks (1.0 when both are empty).
- :func:`ssim`: structural similarity of two 2-D images, Gaussian window sigma 1.5 with
  population covariances (Wang et al. 2004, as the paper's next-frame figures). The runtime's
  forecast check and the trainer's reports both call it, so a threshold on one means the
  same on the other.
- :func:`p99`: the 99th percentile of timings (numpy's linear interpolation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Gaussian window of :func:`ssim` (scikit-image truncates it at 3.5 sigma: 11 x 11).
SSIM_SIGMA = 1.5


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two masks of one shape.

    Both empty gives 1.0 (nothing to find, nothing found); callers that must exclude such
    pairs (the paper's tables) check for it first.
    """
    p, t = np.asarray(prediction, bool), np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {t.shape}")
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    return 1.0 if total == 0 else 2.0 * int(np.count_nonzero(p & t)) / total


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two 2-D images of one shape (at least 11 x 11), values within ``data_range``."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(
        np.asarray(a, np.float64), np.asarray(b, np.float64), data_range=data_range,
        gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False))


def p99(values: Sequence[float] | np.ndarray) -> float:
    """99th percentile (linear interpolation); ``nan`` for no values."""
    array = np.asarray(values, np.float64)
    return float(np.percentile(array, 99)) if array.size else float("nan")
