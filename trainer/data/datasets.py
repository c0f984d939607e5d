"""PyTorch datasets for the three tasks, on any sample source (SLiMIA, folder + CSV, atlas).

Preprocessing is :mod:`engines.preprocess` (the runtime's own code): percentile
normalisation to [0, 1] at model size, then ``(x - mean) / std``, grey copied to 3 channels.
Shape features are computed as the app does: the mask at analysis resolution (longer side
``analysis_side``), :func:`engines.morphometry.shape_descriptors` in original-frame pixels,
then z-normalised with statistics fitted on the training split (:func:`fit_shape_stats`,
stored in the manifest as ``shape_mean``/``shape_std``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from engines.meta import encode_meta
from engines.morphometry import SHAPE_FEATURES, shape_descriptors
from engines.preprocess import analysis_size, as_plane, normalise, resize_area, to_model_input
from trainer.data.records import IPP_LABELS, Sample, SampleSource

IGNORE_INDEX = -100  # torch's cross-entropy default: unknown labels do not count
#: What the next-frame meta vector holds, in order (manifest ``output.meta_fields``).
META_FIELDS = ("cell_line", "culture_medium", "formation_method", "microscope",
               "log_density", "gap_days")
CATEGORICAL_META = META_FIELDS[:4]


@dataclass(frozen=True)
class ModelInput:
    """Model input size (height, width), standardisation and channel count."""

    size: tuple[int, int] = (224, 224)
    mean: float = 0.5
    std: float = 0.5
    channels: int = 3

    def finish(self, image01: np.ndarray) -> torch.Tensor:
        """A [0, 1] image at model size -> standardised (channels, H, W) tensor."""
        image = (image01.astype(np.float32) - np.float32(self.mean)) / np.float32(self.std)
        stacked = np.broadcast_to(image, (self.channels, *self.size))
        return torch.from_numpy(np.ascontiguousarray(stacked, dtype=np.float32))


@dataclass(frozen=True)
class ShapeStats:
    """Mean and standard deviation of the nine shape features (z-normalisation)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def normalise(self, vector: np.ndarray) -> np.ndarray:
        return ((vector - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def as_manifest(self) -> dict[str, tuple[float, ...]]:
        """``{"shape_mean": ..., "shape_std": ...}`` for the manifest's input spec."""
        return {"shape_mean": self.mean, "shape_std": self.std}


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key: numbers numerically first, then names with their digits compared as numbers."""
    if _is_float(text):
        return (0, float(text), ())
    parts = re.split(r"(\d+)", text)
    return (1, 0.0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def build_vocabularies(source: SampleSource, heads: Sequence[str] = IPP_LABELS,
                       indices: Sequence[int] | None = None) -> dict[str, tuple[str, ...]]:
    """Each head's classes seen in ``source`` (numbers numerically, names naturally sorted)."""
    seen: dict[str, set[str]] = {head: set() for head in heads}
    for i in range(len(source)) if indices is None else indices:
        labels = source.labels(i)
        for head in heads:
            if labels.get(head):
                seen[head].add(str(labels[head]))
    return {head: tuple(sorted(values, key=_natural)) for head, values in seen.items()}


def encode_labels(labels: Mapping[str, str], heads: Sequence[str],
                  vocabularies: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Class indices per head; :data:`IGNORE_INDEX` where the label is missing or unseen."""
    out = np.full(len(heads), IGNORE_INDEX, np.int64)
    for k, head in enumerate(heads):
        value = labels.get(head)
        classes = vocabularies[head]
        if value is not None and str(value) in classes:
            out[k] = list(classes).index(str(value))
    return out


def analysis_pair(sample: Sample, analysis_side: int = 512
                  ) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Image in [0, 1] and mask at analysis resolution, and original pixels per pixel."""
    plane = as_plane(sample.image)
    size, scale = analysis_size(plane.shape, analysis_side)
    image = normalise(resize_area(plane, size))
    mask = None
    if sample.mask is not None:
        mask = resize_area(np.asarray(sample.mask, np.float32), size) > 0.5
    return image, mask, scale


def sample_shape(sample: Sample, analysis_side: int = 512) -> np.ndarray | None:
    """The nine raw shape features of a sample's mask, or ``None`` (no mask, empty mask)."""
    _, mask, scale = analysis_pair(sample, analysis_side)
    shape = shape_descriptors(mask, scale) if mask is not None else None
    return None if shape is None else shape.as_vector().astype(np.float64)


def fit_shape_stats(source: SampleSource, indices: Sequence[int] | None = None,
                    analysis_side: int = 512) -> ShapeStats:
    """Z-normalisation statistics of the shape features over ``indices`` (default: all)."""
    vectors = [v for i in (range(len(source)) if indices is None else indices)
               if source.has_mask(i) and (v := sample_shape(source.sample(i), analysis_side))
               is not None]
    if not vectors:
        raise ValueError("no sample with a non-empty mask: cannot fit shape statistics")
    stack = np.stack(vectors)
    std = stack.std(axis=0)
    std = np.where(std > 1e-6 * np.maximum(np.abs(stack.mean(axis=0)), 1.0), std, 1.0)
    return ShapeStats(tuple(float(x) for x in stack.mean(axis=0)), tuple(float(x) for x in std))


class SegmentationDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(image[C,H,W], mask[1,H,W])`` float32 pairs; samples without a mask are left out.

    ``augment`` is an albumentations pipeline (:func:`trainer.augment.segmentation_pipeline`)
    applied to the [0, 1] image and the mask at model size.
    """

    def __init__(self, source: SampleSource, model_input: ModelInput | None = None,
                 augment: Any = None) -> None:
        self.source = source
        self.input = model_input or ModelInput((256, 256))
        self.augment = augment
        self.indices = tuple(i for i in range(len(source)) if source.has_mask(i))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from trainer.augment import apply

        sample = self.source.sample(self.indices[index])
        if sample.mask is None:
            raise ValueError(f"sample {self.indices[index]} lost its mask")
        size = self.input.size
        image = normalise(resize_area(as_plane(sample.image), size))
        mask = resize_area(np.asarray(sample.mask, np.float32), size) > 0.5
        if self.augment is not None:
            image, moved = apply(self.augment, image, mask)
            mask = moved if moved is not None else mask
        return self.input.finish(image), torch.from_numpy(mask[None].astype(np.float32))


class IPPDataset(Dataset[dict[str, torch.Tensor]]):
    """``{"image": [C,H,W], "shape": [9] z-normalised, "has_shape": [], "labels": [heads]}``.

    With a :class:`trainer.augment.MorphologyAwareAugmenter` the geometry is applied to image
    and mask at analysis resolution and the shape features are recomputed from the moved mask.
    Samples without a mask get zero shape features and ``has_shape = 0``.
    """

    def __init__(self, source: SampleSource, vocabularies: Mapping[str, Sequence[str]],
                 shape_stats: ShapeStats, heads: Sequence[str] = IPP_LABELS,
                 model_input: ModelInput | None = None, augment: Any = None,
                 analysis_side: int = 512) -> None:
        self.source, self.heads = source, tuple(heads)
        self.vocabularies = {h: tuple(vocabularies[h]) for h in self.heads}
        self.shape_stats, self.augment = shape_stats, augment
        self.input = model_input or ModelInput((224, 224))
        self.analysis_side = analysis_side

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.source.sample(index)
        if self.augment is None:
            image = to_model_input(sample.image, self.input.size)[0, 0]
            raw = sample_shape(sample, self.analysis_side)
        else:
            image, mask, scale = analysis_pair(sample, self.analysis_side)
            if mask is None:
                mask = np.zeros(image.shape, bool)
            moved = self.augment(image, mask, scale)
            image = normalise(resize_area(moved.image, self.input.size))
            raw = None if moved.shape is None else moved.shape.as_vector().astype(np.float64)
        shape = (np.zeros(len(SHAPE_FEATURES), np.float32) if raw is None
                 else self.shape_stats.normalise(raw))
        labels = encode_labels(sample.labels, self.heads, self.vocabularies)
        return {
            "image": self.input.finish(image),
            "shape": torch.from_numpy(shape),
            "has_shape": torch.tensor(0.0 if raw is None else 1.0),
            "labels": torch.from_numpy(labels),
        }


def meta_vector(labels: Mapping[str, str], gap_hours: float,
                vocabularies: Mapping[str, Sequence[str]]) -> np.ndarray:
    """The :data:`META_FIELDS` vector (categorical indices, ``len(vocab)`` when unseen; natural
    log of the seeding density, 0 when unknown; gap in days) — the runtime's own encoder."""
    vocabs = {name: vocabularies.get(name, ()) for name in CATEGORICAL_META}
    return encode_meta(META_FIELDS, vocabs, labels, gap_hours)


class NextFrameDataset(Dataset[dict[str, torch.Tensor]]):
    """``{"frames": [2,S,S] in [0,1], "target": [1,S,S], "meta": [len(META_FIELDS)]}``.

    ``source`` is a pair source (:class:`trainer.data.timeseries.RecordPairSource` or
    :class:`trainer.data.atlas_source.AtlasPairSource`); frames are preprocessed one by one
    as the runtime does (``to_model_input`` at ``size``, mean 0, std 1).
    """

    def __init__(self, source: Any, vocabularies: Mapping[str, Sequence[str]],
                 size: int = 128) -> None:
        self.source, self.size = source, size
        self.vocabularies = {k: tuple(vocabularies.get(k, ())) for k in CATEGORICAL_META}

    def __len__(self) -> int:
        return len(self.source)

    def _frame(self, pixels: np.ndarray) -> np.ndarray:
        return to_model_input(pixels, (self.size, self.size))[0, 0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        pair = self.source.pair(index)
        frames = np.stack([self._frame(f) for f in pair.context])
        target = self._frame(pair.target)[None]
        meta = meta_vector(pair.labels, pair.gap_hours, self.vocabularies)
        return {"frames": torch.from_numpy(frames), "target": torch.from_numpy(target),
                "meta": torch.from_numpy(meta)}
