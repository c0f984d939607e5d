"""Augmentation pipelines (albumentations) as in Appendix B, and morphology-aware augmentation.

Images are float32 2-D arrays in [0, 1]; masks are boolean or 0/1 ``uint8``. Geometric
transforms move image and mask together (nearest-neighbour for the mask). Morphology-aware
augmentation applies the geometric part to image and mask jointly, then recomputes the nine
shape descriptors from the transformed mask (:func:`engines.morphometry.shape_descriptors`,
the function the app uses), so the shape features stay true to the augmented image.

Pipelines are deterministic for a given ``seed``; in DataLoader workers call
``pipeline.set_random_seed(seed + worker_id)`` so workers do not repeat each other.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from engines.morphometry import ShapeDescriptors, shape_descriptors

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no network check at import
import albumentations as A
import cv2

logger = logging.getLogger(__name__)

_BORDER = cv2.BORDER_REFLECT_101


def geometric_transforms(strength: str = "paper") -> list[A.BasicTransform]:
    """Flips, shift-scale-rotate, elastic and grid distortion (SegNet's list, B.8).

    ``strength="ipp"`` gives the IPP recipe's geometry (horizontal flip, rotation 10 degrees).
    """
    if strength == "ipp":
        return [A.HorizontalFlip(p=0.5), A.Rotate(limit=10, border_mode=_BORDER, p=1.0)]
    if strength != "paper":
        raise ValueError(f"unknown strength {strength!r}; valid: paper, ipp")
    return [
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.3),
        A.Affine(translate_percent=(-0.0625, 0.0625), scale=(0.9, 1.1), rotate=(-45, 45),
                 border_mode=_BORDER, p=0.5),
        A.ElasticTransform(alpha=30.0, sigma=6.0, border_mode=_BORDER, p=0.2),
        A.GridDistortion(num_steps=5, distort_limit=0.2, border_mode=_BORDER, p=0.2),
    ]


def photometric_transforms() -> list[A.BasicTransform]:
    """Brightness/contrast 0.3, gamma 0.3, Gaussian noise (B.7, B.8)."""
    return [
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.3),
        A.RandomGamma(gamma_limit=(80, 120), p=0.3),
        A.GaussNoise(std_range=(0.01, 0.04), p=0.2),
    ]


def segmentation_pipeline(seed: int | None = None) -> A.Compose:
    """The segmentation recipe: geometry then photometry (image and mask jointly)."""
    return A.Compose([*geometric_transforms("paper"), *photometric_transforms()], seed=seed)


def ipp_pipeline(seed: int | None = None) -> A.Compose:
    """The IPP recipe (B.9): horizontal flip and rotation by up to 10 degrees."""
    return A.Compose(geometric_transforms("ipp"), seed=seed)


def apply(pipeline: A.Compose, image: np.ndarray,
          mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Run ``pipeline`` on a float image in [0, 1] and an optional mask; returns the pair.

    The image comes back float32 clipped to [0, 1], the mask boolean.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    if mask is None:
        out = pipeline(image=image)
        return np.clip(out["image"], 0.0, 1.0).astype(np.float32), None
    out = pipeline(image=image, mask=np.ascontiguousarray(mask, dtype=np.uint8))
    return np.clip(out["image"], 0.0, 1.0).astype(np.float32), out["mask"].astype(bool)


@dataclass(frozen=True)
class AugmentedSample:
    """An augmented image and mask and the shape descriptors of the augmented mask."""

    image: np.ndarray
    mask: np.ndarray
    shape: ShapeDescriptors | None


class MorphologyAwareAugmenter:
    """Geometric transforms on image + mask jointly, photometric on the image, then the shape
    descriptors of the transformed mask.

    Args:
        strength: ``"paper"`` (segmentation geometry) or ``"ipp"``.
        photometric: also apply brightness/contrast, gamma and noise.
        seed: random seed (same seed, same sequence of augmentations).
    """

    def __init__(self, strength: str = "ipp", photometric: bool = True,
                 seed: int | None = None) -> None:
        self.geometry = A.Compose(geometric_transforms(strength), seed=seed)
        self.photometry = (A.Compose(photometric_transforms(), seed=None if seed is None
                                     else seed + 1) if photometric else None)

    def set_random_seed(self, seed: int) -> None:
        self.geometry.set_random_seed(seed)
        if self.photometry is not None:
            self.photometry.set_random_seed(seed + 1)

    def __call__(self, image: np.ndarray, mask: np.ndarray, scale: float = 1.0) -> AugmentedSample:
        """Augment; ``scale`` = original pixels per mask pixel, as for ``shape_descriptors``."""
        image, moved = apply(self.geometry, image, np.asarray(mask, bool))
        if moved is None:
            raise ValueError("the geometric pipeline dropped the mask")
        if self.photometry is not None:
            image, _ = apply(self.photometry, image)
        return AugmentedSample(image, moved, shape_descriptors(moved, scale))
