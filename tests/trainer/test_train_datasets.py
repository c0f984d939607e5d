"""Torch datasets (shapes, dtypes, labels, shape statistics) and augmentation alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engines.morphometry import shape_descriptors
from engines.preprocess import to_model_input
from trainer.augment import MorphologyAwareAugmenter, apply, segmentation_pipeline
from trainer.data.atlas_source import AtlasPairSource, AtlasSource
from trainer.data.datasets import (
    IGNORE_INDEX,
    META_FIELDS,
    IPPDataset,
    ModelInput,
    NextFrameDataset,
    SegmentationDataset,
    build_vocabularies,
    encode_labels,
    fit_shape_stats,
    sample_shape,
)
from trainer.data.records import IPP_LABELS


@pytest.fixture(scope="module")
def source() -> AtlasSource:
    return AtlasSource(8, seed=5, width=128)


def test_segmentation_dataset(source: AtlasSource) -> None:
    data = SegmentationDataset(source, ModelInput((64, 64)), augment=segmentation_pipeline(1))
    image, mask = data[0]
    assert image.shape == (3, 64, 64) and mask.shape == (1, 64, 64)
    assert image.dtype == mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0} and 0 < float(mask.mean()) < 1
    assert float(image.min()) >= -1.0 and float(image.max()) <= 1.0  # mean = std = 0.5
    plain = SegmentationDataset(source, ModelInput((64, 64)))
    expected = to_model_input(source.sample(0).image, (64, 64), 0.5, 0.5, 3)[0]
    assert np.allclose(plain[0][0].numpy(), expected, atol=1e-6)


def test_ipp_dataset_labels_and_shape_features(source: AtlasSource) -> None:
    vocab = build_vocabularies(source)
    assert set(vocab) == set(IPP_LABELS)
    stats = fit_shape_stats(source)
    data = IPPDataset(source, vocab, stats, model_input=ModelInput((48, 48)))
    item = data[3]
    assert item["image"].shape == (3, 48, 48) and item["shape"].shape == (9,)
    assert item["labels"].dtype == torch.int64 and item["labels"].shape == (9,)
    labels = source.labels(3)
    for k, head in enumerate(IPP_LABELS):
        assert vocab[head][int(item["labels"][k])] == labels[head]
    raw = sample_shape(source.sample(3))
    assert np.allclose(item["shape"].numpy() * np.asarray(stats.std) + np.asarray(stats.mean),
                       raw, rtol=1e-4)
    shapes = np.stack([data[i]["shape"].numpy() for i in range(len(data))])
    assert np.allclose(shapes.mean(0), 0, atol=1e-4)
    assert encode_labels({"cell_line": "nope"}, ["cell_line"], vocab)[0] == IGNORE_INDEX


def test_vocabularies_sort_numbers_numerically() -> None:
    class Fixed:
        rows = tuple({"seeding_density": v, "technical_rep": t}
                     for v, t in (("10000", "T10"), ("800", "T2"), ("2000", "T1")))

        def __len__(self) -> int:
            return 3

        def labels(self, i: int) -> dict[str, str]:
            return self.rows[i]

    vocab = build_vocabularies(Fixed(), ["seeding_density", "technical_rep"])  # type: ignore[arg-type]
    assert vocab == {"seeding_density": ("800", "2000", "10000"),
                     "technical_rep": ("T1", "T2", "T10")}


def test_ipp_dataset_with_morphology_aware_augmentation(source: AtlasSource) -> None:
    vocab, stats = build_vocabularies(source), fit_shape_stats(source)
    data = IPPDataset(source, vocab, stats, model_input=ModelInput((48, 48)),
                      augment=MorphologyAwareAugmenter("paper", seed=0))
    item = data[0]
    assert item["image"].shape == (3, 48, 48) and float(item["has_shape"]) == 1.0
    assert torch.isfinite(item["shape"]).all()


def test_next_frame_dataset() -> None:
    pairs = AtlasPairSource(3, seed=2, width=64)
    vocab = build_vocabularies(AtlasSource(30, seed=2, width=64),
                               ["cell_line", "culture_medium", "formation_method", "microscope"])
    item = NextFrameDataset(pairs, vocab, size=32)[0]
    assert item["frames"].shape == (2, 32, 32) and item["target"].shape == (1, 32, 32)
    assert item["meta"].shape == (len(META_FIELDS),) and item["meta"].dtype == torch.float32
    assert float(item["frames"].min()) >= 0.0 and float(item["frames"].max()) <= 1.0
    pair = pairs.pair(0)
    assert float(item["meta"][-1]) == pytest.approx(pair.gap_hours / 24)
    assert float(item["meta"][-2]) == pytest.approx(np.log(float(pair.labels["seeding_density"])))


def _square_case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.uniform(0.0, 0.2, (96, 96)).astype(np.float32)
    mask = np.zeros((96, 96), bool)
    mask[20:50, 30:70] = True
    image[mask] = 0.9
    return image, mask


def test_augmentation_keeps_the_mask_aligned() -> None:
    image, mask = _square_case()
    pipeline = segmentation_pipeline(seed=11)
    for _ in range(12):
        moved_image, moved = apply(pipeline, image, mask)
        assert moved is not None and moved.shape == mask.shape and moved.any()
        inside, outside = moved_image[moved].mean(), moved_image[~moved].mean()
        assert inside - outside > 0.4  # the bright object went where the mask went


def test_augmentation_is_deterministic_with_a_seed() -> None:
    image, mask = _square_case()
    first = [apply(segmentation_pipeline(3), image, mask)[0] for _ in range(1)]
    second = [apply(segmentation_pipeline(3), image, mask)[0] for _ in range(1)]
    assert np.array_equal(first[0], second[0])


def test_morphology_aware_augmentation_recomputes_shape() -> None:
    image, mask = _square_case()
    augmenter = MorphologyAwareAugmenter("paper", photometric=False, seed=4)
    changed = 0
    for _ in range(10):
        out = augmenter(image, mask, scale=2.0)
        assert out.shape == shape_descriptors(out.mask, 2.0)
        assert abs(out.shape.area / 4.0 - out.mask.sum()) < 1e-6
        changed += out.shape != shape_descriptors(mask, 2.0)
    assert changed >= 3
