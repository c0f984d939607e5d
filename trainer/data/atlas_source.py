"""Synthetic training samples rendered on the fly from :class:`trainer.synth.AtlasStream`.

Nothing touches the disk: sample ``i`` of a seed is the same image every time (and the same
as ``write_atlas`` writes), so the stream can stand in for a SLiMIA folder in any dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from edge_app.simulation.timeseries import identity_seed, render_series
from edge_app.simulation.vocab import ProtocolRow
from trainer.data.records import Sample
from trainer.data.timeseries import FramePair
from trainer.synth.atlas import AtlasStream


def row_labels(row: ProtocolRow) -> dict[str, str]:
    """A protocol row as the IPP labels (text), as the SLiMIA reader would produce them."""
    return {
        "microscope": row.microscope,
        "cell_line": row.cell_line,
        "culture_medium": row.culture_medium,
        "formation_method": row.formation_method,
        "seeding_density": str(int(row.seeding_density)),
        "timepoint": f"{float(row.hours):g}",
        "biological_rep": row.biological_rep,
        "technical_rep": row.technical_rep,
        "magnification": row.magnification,
    }


@dataclass(frozen=True)
class AtlasSource:
    """``n`` synthetic samples starting at ``start`` of the atlas stream ``seed``."""

    n: int
    seed: int = 0
    width: int = 256
    start: int = 0

    @property
    def stream(self) -> AtlasStream:
        return AtlasStream(self.seed, self.width)

    def __len__(self) -> int:
        return self.n

    def _index(self, index: int) -> int:
        if not 0 <= index < self.n:
            raise IndexError(f"sample {index} out of range 0..{self.n - 1}")
        return self.start + index

    def labels(self, index: int) -> Mapping[str, str]:
        return row_labels(self.stream.row(self._index(index)))

    def has_mask(self, index: int) -> bool:
        return True

    def sample(self, index: int) -> Sample:
        image = self.stream[self._index(index)]
        return Sample(image.image, image.mask > 0, row_labels(image.row), float(image.row.hours))


@dataclass(frozen=True)
class AtlasPairSource:
    """Synthetic next-frame examples: one spheroid rendered at three hours.

    Frames are ``step_hours`` apart (drawn per example from 4-24 h); the target is 1-3 steps
    after the second context frame, as in the paper's gap range.
    """

    n: int
    seed: int = 0
    width: int = 128
    start: int = 0
    min_gap: int = 1
    max_gap: int = 3

    def __len__(self) -> int:
        return self.n

    def _plan(self, index: int) -> tuple[ProtocolRow, list[float]]:
        if not 0 <= index < self.n:
            raise IndexError(f"pair {index} out of range 0..{self.n - 1}")
        stream = AtlasStream(self.seed, self.width)
        row = stream.row(self.start + index)
        rng = np.random.default_rng([self.seed, self.start + index, 7])
        step = float(rng.integers(4, 25))
        gap = int(rng.integers(self.min_gap, self.max_gap + 1))
        first = float(row.hours)
        return row, [first, first + step, first + step * (1 + gap)]

    def labels(self, index: int) -> Mapping[str, str]:
        row, _ = self._plan(index)
        return row_labels(row)

    def pair(self, index: int) -> FramePair:
        row, hours = self._plan(index)
        identity = identity_seed(self.seed, "pair", self.start + index)
        frames = render_series(row, hours, identity, (self.width, self.width))
        return FramePair(
            context=(frames[0].image, frames[1].image),
            target=frames[2].image,
            labels=row_labels(row),
            context_hours=(hours[0], hours[1]),
            target_hours=hours[2],
        )
