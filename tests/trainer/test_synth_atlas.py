"""Atlas on disk: SLiMIA grammar and layout, masks, determinism, agreement with the stream."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import tifffile

from trainer.synth.atlas import INDEX_NAME, MASK_FOLDER, AtlasStream, write_atlas

SLIMIA_NAME = re.compile(
    r"^(?P<cell_line>[^_]+)_(?P<culture_medium>[^_]+)_(?P<formation_method>[^_]+)_"
    r"(?P<seeding_density>\d+)cells_(?P<hours>\d+)h_(?P<biological_rep>B\d+)_"
    r"(?P<technical_rep>T\d+)_(?P<magnification>\d+[Xx])\.ome\.tiff$"
)


def _digest(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_atlas_follows_slimia_grammar_with_masks(tmp_path: Path) -> None:
    paths = write_atlas(tmp_path, 12, seed=4, width=256)
    assert len(paths) == 12 == len(set(paths))
    with (tmp_path / INDEX_NAME).open(encoding="utf-8") as handle:
        index = {row["image"]: row for row in csv.DictReader(handle)}
    for path in paths:
        match = SLIMIA_NAME.match(path.name)
        assert match, path.name
        row = index[path.relative_to(tmp_path).as_posix()]
        microscope, cell_line = path.relative_to(tmp_path).parts[:2]
        assert microscope == row["microscope"] and cell_line == match["cell_line"]
        for label in ("cell_line", "culture_medium", "formation_method", "technical_rep"):
            assert match[label] == row[label]
        assert float(match["hours"]) == float(row["hours"])
        mask_path = (
            tmp_path
            / microscope
            / MASK_FOLDER
            / cell_line
            / (path.name.removesuffix(".ome.tiff") + ".tiff")
        )
        mask = tifffile.imread(mask_path)
        with tifffile.TiffFile(path) as tif:
            assert tif.is_ome
            image = tif.asarray()
        assert mask.shape == image.shape and set(np.unique(mask)) <= {0, 255}


def test_same_seed_writes_identical_bytes(tmp_path: Path) -> None:
    write_atlas(tmp_path / "a", 5, seed=9, width=128)
    write_atlas(tmp_path / "b", 5, seed=9, width=128)
    first, second = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert first == second and len(first) == 11  # 5 images, 5 masks, index


def test_stream_matches_the_written_atlas(tmp_path: Path) -> None:
    paths = write_atlas(tmp_path, 3, seed=2, width=128)
    streamed = list(AtlasStream(seed=2, width=128).take(3))
    for path, sample in zip(paths, streamed, strict=True):
        assert np.array_equal(tifffile.imread(path), sample.image)
    assert AtlasStream(seed=2, width=128)[1].image.tobytes() == streamed[1].image.tobytes()
