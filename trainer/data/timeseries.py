"""Time series for next-frame training: group records into sequences and cut pairs.

Sequences group images with the same microscope, cell line, medium, method, density,
magnification, biological and technical replicate, sorted by hour (``reference/slimia.md``).
A pair is two consecutive context frames and a target 1-3 steps after the last one
(Appendix B.14-B.17: sequence length 2, min gap 1, max gap 3).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from trainer.data.records import ImageRecord, read_image

#: The labels that identify one spheroid series.
SEQUENCE_KEYS = (
    "microscope",
    "cell_line",
    "culture_medium",
    "formation_method",
    "seeding_density",
    "magnification",
    "biological_rep",
    "technical_rep",
)


@dataclass(frozen=True)
class RecordPair:
    """Two context records (earlier first) and the target record."""

    context: tuple[ImageRecord, ImageRecord]
    target: ImageRecord
    steps: int

    @property
    def sequence(self) -> tuple[str, ...]:
        return sequence_key(self.target.labels)


@dataclass(frozen=True)
class FramePair:
    """Pixels of one next-frame example: two context frames, the target, and their hours."""

    context: tuple[np.ndarray, np.ndarray]
    target: np.ndarray
    labels: Mapping[str, str] = field(hash=False)
    context_hours: tuple[float, float]
    target_hours: float

    @property
    def gap_hours(self) -> float:
        """Hours from the last context frame to the target."""
        return self.target_hours - self.context_hours[1]


def sequence_key(labels: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(str(labels.get(k, "")) for k in SEQUENCE_KEYS)


def group_sequences(records: Sequence[ImageRecord]) -> dict[tuple[str, ...], list[ImageRecord]]:
    """Sequences of records with known hours, each sorted by hour (ties by path)."""
    groups: dict[tuple[str, ...], list[ImageRecord]] = defaultdict(list)
    for record in records:
        if record.hours is not None:
            groups[sequence_key(record.labels)].append(record)
    return {
        key: sorted(group, key=lambda r: (r.hours, r.key))
        for key, group in sorted(groups.items())
    }


def make_pairs(
    sequences: Mapping[tuple[str, ...], Sequence[ImageRecord]],
    min_gap: int = 1,
    max_gap: int = 3,
) -> list[RecordPair]:
    """Every (frame i, frame i+1) -> frame i+1+g pair with ``min_gap <= g <= max_gap``."""
    if not 1 <= min_gap <= max_gap:
        raise ValueError(f"need 1 <= min_gap <= max_gap, got {min_gap}, {max_gap}")
    pairs = []
    for sequence in sequences.values():
        for i in range(len(sequence) - 1):
            for gap in range(min_gap, max_gap + 1):
                target = i + 1 + gap
                if target < len(sequence):
                    context = (sequence[i], sequence[i + 1])
                    pairs.append(RecordPair(context, sequence[target], gap))
    return pairs


class RecordPairSource:
    """Next-frame examples read from disk for a list of :class:`RecordPair`."""

    def __init__(self, pairs: Sequence[RecordPair]) -> None:
        self.pairs = tuple(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def labels(self, index: int) -> Mapping[str, str]:
        return self.pairs[index].target.labels

    def pair(self, index: int) -> FramePair:
        item = self.pairs[index]
        first, second = item.context
        return FramePair(
            context=(read_image(first.image), read_image(second.image)),
            target=read_image(item.target.image),
            labels=item.target.labels,
            context_hours=(float(first.hours or 0.0), float(second.hours or 0.0)),
            target_hours=float(item.target.hours or 0.0),
        )
