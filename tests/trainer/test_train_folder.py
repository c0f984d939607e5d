"""The README's ``sentinel train --preset demo --data folder:labels.csv`` on a folder of plain
images (a ``file`` column and label columns, no masks, no replicates, no split)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from engines.bundle import load_bundle
from tests.support import drawn_spheroid
from trainer.cli import train_app
from trainer.data.splits import choose_split, split_by_hash

LINES = ("HCT116", "MCF7")


def _folder(root: Path, n: int = 50, extra: str = "") -> Path:
    rows = [f"file,cell_line,culture_medium{extra and ',' + extra}"]
    for i in range(n):
        line = LINES[i % 2]
        name = f"img_{i:02d}.png"
        image = drawn_spheroid(size=96, radius=18 + 10 * (i % 2), seed=i)
        assert cv2.imwrite(str(root / name), (image >> 4).astype(np.uint8))
        cells = [name, line, "DMEMLG"] + ([f"T{1 + i % 8}"] if extra else [])
        rows.append(",".join(cells))
    (root / "labels.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.csv"


def _train(tmp_path: Path, *extra: str) -> tuple[Path, str]:
    (tmp_path / "lab").mkdir()
    labels = _folder(tmp_path / "lab")
    out = tmp_path / "runs"
    result = CliRunner().invoke(train_app, [
        "--preset", "demo", "--data", f"folder:{labels}", "--tiny", "--epochs", "1",
        "--out", str(out), "--bundles", str(out / "bundles"), "--threads", "1", *extra])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_readme_command_on_plain_images(tmp_path: Path) -> None:
    """The README's command (tiny, one epoch, no ONNX export: the slow test below exports)."""
    out, output = _train(tmp_path, "--no-export")
    assert "split by a stable hash of the file name" in output
    assert "50 image(s) had no mask: computed with the classical segmenter" in output
    assert "nextframe" in output and "skipped: --data" in output
    assert len(list((out / "computed_masks").glob("*.png"))) == 50
    for task in ("segmentation", "ipp"):
        config = json.loads((out / task / "config.json").read_text())
        assert config["data"]["train"] + config["data"]["val"] + config["data"]["test"] == 50
        assert "computed with the classical segmenter" in config["data"]["masks"]


@pytest.mark.slow
def test_readme_command_exports_bundles_that_say_where_masks_came_from(tmp_path: Path) -> None:
    out, _ = _train(tmp_path)
    for task in ("segmentation", "ipp"):
        bundle = load_bundle(out / "bundles" / task)
        assert "computed with the classical segmenter" in bundle.manifest.data["masks"]


def test_split_column_then_replicate_then_hash() -> None:
    keys = [f"img_{i:02d}.png" for i in range(50)]
    named = ["train"] * 40 + ["val"] * 5 + ["TEST"] * 5
    split, how = choose_split([{}] * 50, keys, named)
    assert how == "the split column" and split.sizes() == {"train": 40, "val": 5, "test": 5}
    reps = [{"technical_rep": f"T{1 + i % 9}"} for i in range(50)]
    split, how = choose_split(reps, keys, [None] * 50)
    assert how.startswith("technical replicate") and split.val == tuple(
        i for i in range(50) if reps[i]["technical_rep"] in ("T5", "T8"))
    split, how = choose_split([{}] * 50, keys)
    assert how.startswith("a stable hash") and all(split.sizes().values())
    shuffled = list(reversed(keys))  # the part of a file depends on its name, not the order
    again = split_by_hash(shuffled)
    assert {keys[i] for i in split.test} == {shuffled[i] for i in again.test}
    tiny = split_by_hash(["a.png", "b.png", "c.png"])
    assert all(tiny.sizes().values())
    with pytest.raises(ValueError, match="unknown split value"):
        choose_split([{}] * 2, ["a", "b"], ["train", "later"])
