"""Training, validation and held-out test data of one recipe, from a data spec.

Data specs: ``atlas`` (synthetic, rendered on the fly), ``slimia:PATH`` (SLiMIA layout,
split by technical replicate as the paper), ``folder:CSV`` (a lab's images and a CSV).
On the atlas the held-out test set comes from seed ``recipe.seed + 1``, never used in
training; validation and the calibration split are disjoint ranges of the training seed
(without a calibration split, validation doubles as it, as for SLiMIA and folders).
Atlas samples are rendered once and kept in memory, so epochs do not re-render them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.data.records import IPP_LABELS, ImageRecord, RecordSource, Sample
from trainer.data.timeseries import FramePair
from trainer.train.recipes import Recipe

logger = logging.getLogger(__name__)

DATA_KINDS = ("atlas", "slimia", "folder")


class DataSpecError(ValueError):
    """A ``--data`` value that cannot be used (the message says what is valid)."""


@dataclass(frozen=True)
class DataSpec:
    """``kind`` is ``atlas``, ``slimia`` or ``folder``; ``path`` for the last two."""

    kind: str = "atlas"
    path: Path | None = None

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        kind, _, rest = text.partition(":")
        if kind not in DATA_KINDS or (kind == "atlas") != (rest == ""):
            raise DataSpecError(f"--data {text!r}: use atlas, slimia:PATH or folder:CSV")
        return cls(kind, Path(rest) if rest else None)

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


class CachedSource:
    """A sample source read once and kept in memory (labels stay cheap)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self._items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.source)

    def labels(self, index: int) -> Mapping[str, str]:
        return self.source.labels(index)

    def has_mask(self, index: int) -> bool:
        return bool(self.source.has_mask(index))

    def sample(self, index: int) -> Sample:
        if index not in self._items:
            self._items[index] = self.source.sample(index)
        return self._items[index]  # type: ignore[no-any-return]

    def pair(self, index: int) -> FramePair:
        if index not in self._items:
            self._items[index] = self.source.pair(index)
        return self._items[index]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Splits:
    """Train, validation, held-out test and calibration sources, and where they came from."""

    train: Any
    val: Any
    test: Any
    summary: Mapping[str, Any] = field(hash=False, default_factory=dict)
    calib: Any = None

    @property
    def calibration(self) -> Any:
        """The calibration split (the validation split when there is no separate one)."""
        return self.calib if self.calib is not None else self.val


def atlas_splits(recipe: Recipe) -> Splits:
    """Synthetic splits: train and validation from ``seed``, test from ``seed + 1``."""
    from trainer.data.atlas_source import AtlasPairSource, AtlasSource

    kind = AtlasPairSource if recipe.task == "nextframe" else AtlasSource
    width, seed = recipe.atlas_width, recipe.seed
    train = kind(recipe.n_train, seed=seed, width=width)
    val = kind(recipe.n_val, seed=seed, width=width, start=recipe.n_train)
    test = kind(recipe.n_test, seed=seed + 1, width=width)
    summary = {"source": "synthetic atlas", "width": width, "train_seed": seed,
               "test_seed": seed + 1, "n_train": recipe.n_train, "n_val": recipe.n_val,
               "n_test": recipe.n_test, "n_calib": recipe.n_calib}
    calib = (CachedSource(kind(recipe.n_calib, seed=seed, width=width,
                               start=recipe.n_train + recipe.n_val))
             if recipe.n_calib else None)
    return Splits(CachedSource(train), CachedSource(val), CachedSource(test), summary, calib)


def _records(spec: DataSpec) -> list[ImageRecord]:
    if spec.path is None:
        raise DataSpecError(f"--data {spec}: a path is needed")
    if spec.kind == "slimia":
        from trainer.data.slimia import read_slimia

        return list(read_slimia(spec.path).records)
    from trainer.data.folder_csv import read_folder_csv

    return read_folder_csv(spec.path)


class NoTimeSeries(DataSpecError):
    """The data has no image sequences, so a next-frame recipe has nothing to learn from."""


def _split_images(recipe: Recipe, spec: DataSpec, records: Sequence[ImageRecord]
                  ) -> tuple[Any, str]:
    """SLiMIA: the paper's replicate split. Folder: :func:`choose_split` on file names
    relative to the CSV (a ``split`` column, else technical replicate, else a hash)."""
    from trainer.data.splits import choose_split, split_by_replicate

    if spec.kind == "slimia":
        split = split_by_replicate([r.labels for r in records], keys=[r.key for r in records])
        return split, "technical replicate (the paper's)"
    base = spec.path.parent.resolve() if spec.path is not None else None
    keys = [r.image.relative_to(base).as_posix() if base and r.image.is_relative_to(base)
            else r.image.name for r in records]
    return choose_split([r.labels for r in records], keys, [r.split for r in records],
                        seed=recipe.seed)


def record_splits(recipe: Recipe, spec: DataSpec, mask_dir: Path | None = None) -> Splits:
    """SLiMIA / folder splits: images as :func:`_split_images`, 70/15/15 by series (pairs).

    ``mask_dir``: where masks missing from a folder CSV are computed to (segmentation and
    IPP recipes; :func:`trainer.data.auto_masks.fill_missing_masks`); without it they stay
    missing.
    """
    from trainer.data.splits import split_fractions

    records = _records(spec)
    summary: dict[str, Any] = {"source": str(spec)}
    if recipe.task == "nextframe":
        from trainer.data.timeseries import RecordPairSource, group_sequences, make_pairs

        pairs = make_pairs(group_sequences(records))
        if not pairs:
            raise NoTimeSeries(f"--data {spec}: no image sequences (images of one well with "
                               "an 'hours' or 'timepoint' column), so no next-frame engine")
        split = split_fractions(["|".join(p.sequence) for p in pairs], seed=recipe.seed)
        sources: list[Any] = [RecordPairSource([pairs[i] for i in part])
                              for part in (split.train, split.val, split.test)]
        summary["split"] = "70/15/15 by image sequence"
    else:
        if mask_dir is not None and spec.kind == "folder":
            from trainer.data.auto_masks import fill_missing_masks

            records, note = fill_missing_masks(records, mask_dir)
            if note:
                summary["masks"] = note
        split, summary["split"] = _split_images(recipe, spec, records)
        base = RecordSource(records)
        sources = [base.subset(part) for part in (split.train, split.val, split.test)]
    if not all(len(s) for s in sources):
        raise DataSpecError(f"--data {spec}: a split is empty {split.sizes()} "
                            f"(split by {summary['split']})")
    logger.info("%s: split by %s %s", spec, summary["split"], split.sizes())
    return Splits(sources[0], sources[1], sources[2], {**summary, **split.sizes()})


def load_splits(recipe: Recipe, spec: DataSpec, mask_dir: Path | None = None) -> Splits:
    """The recipe's splits from ``spec`` (``mask_dir``: see :func:`record_splits`)."""
    splits = (atlas_splits(recipe) if spec.kind == "atlas"
              else record_splits(recipe, spec, mask_dir))
    logger.info("%s data %s: train %d, val %d, test %d", recipe.name, spec, len(splits.train),
                len(splits.val), len(splits.test))
    return splits


def label_heads(vocabularies: Mapping[str, Sequence[str]],
                exclude: str | None = None) -> dict[str, int]:
    """IPP heads (paper order) with at least two classes in the data, minus ``exclude``.

    A label with one value (a lab's CSV often has a constant column) has nothing to learn.
    """
    constant = [h for h in IPP_LABELS if len(vocabularies.get(h) or ()) == 1]
    if constant:
        logger.info("labels with a single value, no head: %s", ", ".join(constant))
    return {h: len(vocabularies[h]) for h in IPP_LABELS
            if len(vocabularies.get(h) or ()) >= 2 and h != exclude}
