"""The synthetic atlas: SLiMIA's folder and file-name grammar on disk, or a stream in memory.

Layout (as SLiMIA): ``<Microscope>/<CellLine>/<stem>.ome.tiff`` with the mask at
``<Microscope>/Manual segmentations/<CellLine>/<stem>.tiff`` (binary 0/255), where ``stem`` is
``{CellLine}_{Medium}_{Method}_{N}cells_{T}h_B{b}_T{t}_{Mag}``. Sample ``i`` of seed ``s`` is
the same image whether it is streamed or written, so training on the fly and on disk agree.
"""

from __future__ import annotations

import csv
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import tifffile

from edge_app.simulation.renderer import SpheroidRenderer, SynthImage, frame_shape
from edge_app.simulation.vocab import ProtocolRow, Vocabulary

logger = logging.getLogger(__name__)

MASK_FOLDER = "Manual segmentations"
INDEX_NAME = "atlas_index.csv"
_UUID_NAMESPACE = uuid.UUID("6f1d3c1e-5b0a-4c3e-9a57-53504845524f")


def slimia_stem(row: ProtocolRow) -> str:
    """The SLiMIA file stem of a protocol row (hours zero-padded to three digits)."""
    hours = f"{int(row.hours):03d}" if float(row.hours).is_integer() else f"{row.hours:g}"
    return (
        f"{row.cell_line}_{row.culture_medium}_{row.formation_method}_"
        f"{row.seeding_density}cells_{hours}h_{row.biological_rep}_{row.technical_rep}_"
        f"{row.magnification}"
    )


def sample_seed(seed: int, index: int) -> int:
    """The render seed of atlas sample ``index`` (independent of iteration order)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


@dataclass(frozen=True)
class AtlasStream:
    """Random-access, on-the-fly atlas samples; nothing touches the disk."""

    seed: int = 0
    width: int = 512
    renderer: SpheroidRenderer | None = None

    @property
    def _renderer(self) -> SpheroidRenderer:
        return self.renderer or _default_renderer()

    def row(self, index: int) -> ProtocolRow:
        """The protocol of sample ``index`` (SLiMIA-like confounded draw)."""
        rng = np.random.default_rng([self.seed, index, 0])
        return self._renderer.vocab.sample_row(rng)

    def __getitem__(self, index: int) -> SynthImage:
        row = self.row(index)
        shape = frame_shape(row, self._renderer.vocab, self.width)
        return self._renderer.render(row, sample_seed(self.seed, index), shape)

    def take(self, n: int, start: int = 0) -> Iterator[SynthImage]:
        """Samples ``start`` .. ``start + n - 1``."""
        for index in range(start, start + n):
            yield self[index]

    def __iter__(self) -> Iterator[SynthImage]:
        index = 0
        while True:
            yield self[index]
            index += 1


@lru_cache(maxsize=1)
def _default_renderer() -> SpheroidRenderer:
    return SpheroidRenderer(Vocabulary.default())


def write_atlas(
    out: Path, n: int, seed: int = 0, width: int = 512, renderer: SpheroidRenderer | None = None
) -> list[Path]:
    """Write ``n`` samples in SLiMIA's layout under ``out``; return the image paths."""
    stream = AtlasStream(seed, width, renderer)
    out.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    paths: list[Path] = []
    with (out / INDEX_NAME).open("w", newline="", encoding="utf-8") as handle:
        index = csv.writer(handle)
        index.writerow(["image", "mask", *ProtocolRow.__dataclass_fields__])
        for i, sample in enumerate(stream.take(n)):
            row = _unique_row(sample.row, taken)
            image_path, mask_path = _write_sample(out, replace(sample, row=row), seed)
            index.writerow(
                [
                    image_path.relative_to(out).as_posix(),
                    mask_path.relative_to(out).as_posix(),
                    *row.as_dict().values(),
                ]
            )
            paths.append(image_path)
            if (i + 1) % 500 == 0:
                logger.info("atlas: %d / %d images written", i + 1, n)
    return paths


def _unique_row(row: ProtocolRow, taken: set[str]) -> ProtocolRow:
    """Bump the technical replicate until the SLiMIA stem is unique in this atlas."""
    number = int(row.technical_rep.lstrip("T") or 1)
    while (key := f"{row.microscope}/{slimia_stem(row)}") in taken:
        number += 1
        row = row.with_labels(technical_rep=f"T{number}")
    taken.add(key)
    return row


def _write_sample(out: Path, sample: SynthImage, seed: int) -> tuple[Path, Path]:
    row = sample.row
    stem = slimia_stem(row)
    image_path = out / row.microscope / row.cell_line / f"{stem}.ome.tiff"
    mask_path = out / row.microscope / MASK_FOLDER / row.cell_line / f"{stem}.tiff"
    image_path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "axes": "YX",
        "UUID": str(uuid.uuid5(_UUID_NAMESPACE, f"{seed}/{row.microscope}/{stem}")),
        "PhysicalSizeX": sample.pixel_size_um,
        "PhysicalSizeY": sample.pixel_size_um,
        "PhysicalSizeXUnit": "µm",
        "PhysicalSizeYUnit": "µm",
    }
    tifffile.imwrite(image_path, sample.image, ome=True, metadata=metadata)
    tifffile.imwrite(mask_path, sample.mask)
    return image_path, mask_path
