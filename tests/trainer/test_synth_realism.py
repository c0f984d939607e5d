"""Realism: shape-descriptor medians of the atlas fall inside SLiMIA's interquartile ranges."""

from __future__ import annotations

import numpy as np
import pytest

from engines.morphometry import SHAPE_FEATURES
from trainer.synth.atlas import AtlasStream
from trainer.synth.features import shape_vector

# 25% and 75% of SLiMIA's 7,877 masked images (reference/slimia.md).
SLIMIA_IQR = {
    "circularity": (0.579, 0.826),
    "solidity": (0.924, 0.981),
    "eccentricity": (0.287, 0.478),
    "extent": (0.695, 0.768),
}


def atlas_medians(n: int, seed: int) -> dict[str, float]:
    vectors = [shape_vector(s.mask) for s in AtlasStream(seed, 512).take(n)]
    table = np.asarray([v for v in vectors if v is not None])
    return {k: float(np.median(table[:, SHAPE_FEATURES.index(k)])) for k in SLIMIA_IQR}


def _assert_inside(medians: dict[str, float]) -> None:
    outside = {k: m for k, m in medians.items() if not SLIMIA_IQR[k][0] <= m <= SLIMIA_IQR[k][1]}
    assert not outside, f"medians outside SLiMIA's IQR: {outside}"


def test_shape_medians_inside_slimia_iqr_on_200_images() -> None:
    _assert_inside(atlas_medians(200, seed=11))


@pytest.mark.slow
def test_shape_medians_inside_slimia_iqr_on_2000_images() -> None:
    _assert_inside(atlas_medians(2000, seed=1))
