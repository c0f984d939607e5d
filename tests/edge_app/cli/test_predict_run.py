"""``sentinel predict --masks-out`` never overwrites another image's mask."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from edge_app.cli.predict_run import MaskNames, Predictor
from tests.support import drawn_spheroid


def _jpeg(path: Path, radius: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), (drawn_spheroid(size=200, radius=radius) >> 4).astype("uint8"))
    return path


def test_same_stem_in_two_folders_gives_two_masks(tmp_path):
    small = _jpeg(tmp_path / "a" / "1.jpeg", 25)
    large = _jpeg(tmp_path / "b" / "1.jpg", 60)
    predictor = Predictor(Path("classical"), Path("off"))
    try:
        records = [predictor.predict(p, tmp_path / "m") for p in (small, large, small)]
    finally:
        predictor.close()
    masks = [Path(r["mask"]) for r in records]
    assert masks[0].name == "1_mask.png" and masks[1].name == "b_1_mask.png"
    assert masks[2] == masks[0]  # the same image again keeps its own name
    areas = [(cv2.imread(str(m), cv2.IMREAD_GRAYSCALE) > 0).sum() for m in masks[:2]]
    assert areas[1] > 3 * areas[0]  # each file holds its own image's mask


def test_mask_names_fall_back_to_the_suffix_then_refuse(tmp_path):
    names = MaskNames(tmp_path)
    assert names.claim(Path("x/1.jpg")).name == "1_mask.png"
    assert names.claim(Path("y/1.jpg")).name == "y_1_mask.png"
    assert names.claim(Path("p/y/1.jpg")).name == "y_1.jpg_mask.png"
    assert names.claim(Path("x/1.jpg")).name == "1_mask.png"  # same image, same name
    with pytest.raises(ValueError, match="would overwrite the mask of"):
        names.claim(Path("q/y/1.jpg"))  # all three names belong to other images
