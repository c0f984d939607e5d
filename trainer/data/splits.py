"""Deterministic train/validation/test splits over label mappings (no randomness by order).

- :func:`split_by_replicate`: the paper's split by technical replicate.
- :func:`leave_microscope_out`: a whole microscope is the test set.
- :func:`split_fractions`: the 70/15/15 split of the next-frame models, by group.

Random choices hash each item's key with the seed, so a split does not depend on the order
of the list or on the machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The paper's replicate split (``reference/slimia.md``).
PAPER_TRAIN = ("T1", "T2", "T3", "T4")
PAPER_VAL = ("T5", "T8")
T1_T8 = tuple(f"T{i}" for i in range(1, 9))


@dataclass(frozen=True)
class Split:
    """Indices into the list that was split; disjoint, each sorted."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def unit_hash(key: str, seed: int = 0) -> float:
    """A stable number in [0, 1) for ``key`` and ``seed``."""
    digest = hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _keys(labels: Sequence[Mapping[str, str]], keys: Sequence[str] | None) -> list[str]:
    if keys is None:
        return [str(i) for i in range(len(labels))]
    if len(keys) != len(labels):
        raise ValueError(f"{len(keys)} keys for {len(labels)} items")
    return list(keys)


def split_by_replicate(
    labels: Sequence[Mapping[str, str]],
    scheme: str = "t1-t4",
    keys: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Split:
    """Split by technical replicate.

    ``scheme="t1-t4"`` (paper, main text): train T1-T4, validation T5 and T8, test the rest.
    ``scheme="t1-t8"`` (appendix): train and validation from T1-T8 (``val_fraction`` of them,
    chosen by key hash), test T9 and above.
    """
    if scheme not in ("t1-t4", "t1-t8"):
        raise ValueError(f"unknown replicate scheme {scheme!r}; valid: t1-t4, t1-t8")
    ids = _keys(labels, keys)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for i, item in enumerate(labels):
        rep = str(item.get("technical_rep", "")).upper()
        if scheme == "t1-t4":
            target = train if rep in PAPER_TRAIN else val if rep in PAPER_VAL else test
        elif rep in T1_T8:
            target = val if unit_hash(ids[i], seed) < val_fraction else train
        else:
            target = test
        target.append(i)
    return Split(tuple(train), tuple(val), tuple(test))


def leave_microscope_out(
    labels: Sequence[Mapping[str, str]],
    microscope: str,
    keys: Sequence[str] | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Split:
    """Test on every image of ``microscope``; validation is ``val_fraction`` of the others.

    Raises:
        ValueError: no image comes from ``microscope`` (the message lists those present).
    """
    scopes = sorted({str(item.get("microscope", "")) for item in labels})
    if microscope not in scopes:
        raise ValueError(f"no images from microscope {microscope!r}; present: {scopes}")
    ids = _keys(labels, keys)
    train, val, test = [], [], []
    for i, item in enumerate(labels):
        if item.get("microscope") == microscope:
            test.append(i)
        elif unit_hash(ids[i], seed) < val_fraction:
            val.append(i)
        else:
            train.append(i)
    return Split(tuple(train), tuple(val), tuple(test))


def split_fractions(
    groups: Sequence[str],
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    seed: int = 42,
) -> Split:
    """Split items by group (all items of a group land together) in about ``fractions``."""
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1: {fractions}")
    bounds = (fractions[0], fractions[0] + fractions[1])
    parts: tuple[list[int], list[int], list[int]] = ([], [], [])
    for i, group in enumerate(groups):
        u = unit_hash(group, seed)
        parts[0 if u < bounds[0] else 1 if u < bounds[1] else 2].append(i)
    return Split(tuple(parts[0]), tuple(parts[1]), tuple(parts[2]))


#: Values of a ``split`` column and the part they name.
SPLIT_NAMES = {"train": 0, "training": 0, "val": 1, "valid": 1, "validation": 1, "test": 2,
               "holdout": 2}
HASH_FRACTIONS = (0.70, 0.15, 0.15)


def split_by_column(values: Sequence[str | None], keys: Sequence[str], seed: int = 0) -> Split:
    """The split each item names (``train``/``val``/``test``); blank ones by key hash.

    Raises:
        ValueError: a value that names no split (the message lists the valid ones).
    """
    unknown = sorted({v for v in values if v and v.lower() not in SPLIT_NAMES})
    if unknown:
        raise ValueError(f"unknown split value(s) {unknown}; valid: train, val, test")
    by_hash = split_by_hash(keys, seed=seed)
    hashed = {i: part for part, items in enumerate((by_hash.train, by_hash.val, by_hash.test))
              for i in items}
    parts: tuple[list[int], list[int], list[int]] = ([], [], [])
    for i, value in enumerate(values):
        parts[SPLIT_NAMES[value.lower()] if value else hashed[i]].append(i)
    return Split(tuple(parts[0]), tuple(parts[1]), tuple(parts[2]))


def split_by_hash(keys: Sequence[str], fractions: tuple[float, float, float] = HASH_FRACTIONS,
                  seed: int = 0) -> Split:
    """About ``fractions`` of the items by a stable hash of each key (the file name).

    Each item's part depends only on its key and the seed. Should a part come out empty
    with three or more items (a few unlucky hashes), the items are ranked by hash instead
    and cut at the fractions, each part at least one item.
    """
    split = split_fractions(list(keys), fractions, seed)
    if len(keys) < 3 or all(split.sizes().values()):
        return split
    order = sorted(range(len(keys)), key=lambda i: (unit_hash(keys[i], seed), keys[i]))
    n_val = max(1, round(fractions[1] * len(keys)))
    n_test = max(1, round(fractions[2] * len(keys)))
    n_train = len(keys) - n_val - n_test
    return Split(tuple(sorted(order[:n_train])), tuple(sorted(order[n_train:n_train + n_val])),
                 tuple(sorted(order[n_train + n_val:])))


def choose_split(labels: Sequence[Mapping[str, str]], keys: Sequence[str],
                 split_values: Sequence[str | None] | None = None, seed: int = 0
                 ) -> tuple[Split, str]:
    """A lab's split: by its ``split`` column, else by technical replicate (the paper's
    T1-T4 / T5, T8 / rest, when that leaves no part empty), else by a stable hash of the
    file name (70/15/15). Returns the split and how it was made, in words."""
    if split_values is not None and any(split_values):
        return split_by_column(split_values, keys, seed), "the split column"
    if labels and all(item.get("technical_rep") for item in labels):
        split = split_by_replicate(labels, keys=keys, seed=seed)
        if all(split.sizes().values()):
            return split, "technical replicate (train T1-T4, validation T5 and T8, test rest)"
    return split_by_hash(keys, seed=seed), "a stable hash of the file name (70/15/15)"
