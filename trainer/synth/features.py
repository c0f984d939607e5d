"""Shape descriptors and intensity statistics of a synthetic (or real) image and mask.

The nine shape descriptors come from :mod:`engines.morphometry` (scikit-image ``regionprops``;
circularity is ``4 * pi * area / perimeter**2``), in ``SHAPE_FEATURES`` order.
The three intensity statistics are scale-free (relative to the background median), so the
camera's bit depth does not give the microscope away by itself.
"""

from __future__ import annotations

import numpy as np

from engines.morphometry import SHAPE_FEATURES, shape_descriptors

INTENSITY_FEATURES = ("fg_mean_rel", "fg_std_rel", "bg_cv")
FEATURES = (*SHAPE_FEATURES, *INTENSITY_FEATURES)


def shape_vector(mask: np.ndarray) -> np.ndarray | None:
    """The nine shape descriptors of the largest object, or ``None`` for an empty mask.

    The same function the edge app uses (:func:`engines.morphometry.shape_descriptors`), so
    training features and run-time features cannot drift.
    """
    shape = shape_descriptors(mask)
    return None if shape is None else shape.as_vector().astype(np.float64)


def intensity_vector(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Foreground mean and std and background coefficient of variation, / background median."""
    pixels = np.asarray(image, dtype=np.float64)
    inside = np.asarray(mask) > 0
    background = pixels[~inside] if (~inside).any() else pixels.ravel()
    reference = max(float(np.median(background)), 1e-9)
    foreground = pixels[inside] if inside.any() else np.asarray([reference])
    return np.asarray(
        [
            foreground.mean() / reference,
            foreground.std() / reference,
            background.std() / reference,
        ]
    )


def feature_vector(image: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """:data:`FEATURES` of one image, or ``None`` when the mask is empty."""
    shape = shape_vector(mask)
    if shape is None:
        return None
    return np.concatenate([shape, intensity_vector(image, mask)])
