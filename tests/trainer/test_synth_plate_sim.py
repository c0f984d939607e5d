"""Plate simulator: formats as the watcher reads them, pacing, deviations, determinism."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import tifffile

from edge_app.simulation.deviations import DEVIATION_KINDS, read_ground_truth
from edge_app.simulation.plate_sim import PlateSimulation, simulate_plate
from edge_app.simulation.writers import FrameRecord, MMSingleTiffWriter, WriterOptions

LABELS = {
    "cell_line": "HCT116",
    "culture_medium": "DMEMLG",
    "formation_method": "LiquidOverlay-ULA",
    "seeding_density": "2000",
    "microscope": "Axiovert200M",
    "magnification": "5X",
    "biological_rep": "B1",
    "technical_rep": "T1",
}
WELLS = {w: LABELS for w in ("A01", "A2", "B1", "B2")}


class FakeTime:
    """A clock that only moves when the simulator sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _sim(tmp: Path, **kwargs: object) -> tuple[object, FakeTime]:
    fake = FakeTime()
    sim = PlateSimulation(**{"hours": (0.0, 48.0), "width": 128, "seed": 3, **kwargs})  # type: ignore[arg-type]
    return simulate_plate(tmp, WELLS, sim, clock=fake.clock, sleep=fake.sleep), fake


def test_plain_tiff_names_pacing_and_identical_bytes(tmp_path: Path) -> None:
    result, fake = _sim(tmp_path / "a", fmt="tiff", rate=5.0)
    names = sorted(Path(u).name for u in result.uris)  # type: ignore[attr-defined]
    assert names[0] == "plate1_A1_s0_t0h.tif" and "plate1_B2_s0_t48h.tif" in names
    assert len(names) == 8
    assert fake.now == pytest.approx(7 / 5.0, abs=0.2)  # 8 frames at 5 frames/s
    _sim(tmp_path / "b", fmt="tiff", rate=0.0)
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_mm_single_layout_metadata_and_info_tag(tmp_path: Path) -> None:
    result, _ = _sim(tmp_path, fmt="mm-single", sites=2)
    first = Path(result.uris[0])  # type: ignore[attr-defined]
    assert first.parent.name == "A1-Site_0"
    assert first.name == "img_channel000_position000_time000000000_z000.tif"
    with tifffile.TiffFile(first) as tif:
        info = json.loads(tif.imagej_metadata["Info"])
    assert info["PositionName"] == "A1-Site_0" and info["Axes"]["time"] == 0
    text = (first.parent / "metadata.txt").read_text(encoding="utf-8")
    metadata = json.loads(text)
    assert "StartTime" in metadata["Summary"]
    late = metadata["Metadata-img_channel000_position000_time000000001_z000.tif"]
    assert late["ElapsedTime-ms"] == pytest.approx(48 * 3.6e6)
    assert (tmp_path / "plate1_acq" / "B2-Site_1").is_dir()


def test_mm_metadata_txt_is_streamed_without_closing_brace(tmp_path: Path) -> None:
    options = WriterOptions("acq", datetime(2025, 1, 1))
    writer = MMSingleTiffWriter(tmp_path, options)
    frame = FrameRecord(np.zeros((8, 8), np.uint16), "p", "C3", 0, 0.0, 0, 0, 0.0, 1.0)
    writer.write(frame)
    text = (tmp_path / "acq" / "C3-Site_0" / "metadata.txt").read_text(encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert json.loads(text + "}")["Metadata-img_channel000_position000_time000000000_z000.tif"]
    writer.close()
    assert json.loads((tmp_path / "acq" / "C3-Site_0" / "metadata.txt").read_text())


def test_ndtiff_dataset_reads_back_with_positions_and_time(tmp_path: Path) -> None:
    from ndstorage import Dataset

    _sim(tmp_path, fmt="ndtiff")
    dataset = Dataset(str(next(tmp_path.glob("plate1_acq_*"))))
    try:
        assert set(dataset.axes["position"]) == {0, 1, 2, 3}
        metadata = dataset.read_metadata(position=3, time=1)
        assert metadata["PositionName"] == "B2-Site_0"
        assert metadata["ElapsedTime-ms"] > 48 * 3.6e6 - 1
        assert dataset.read_image(position=3, time=1).shape == (96, 128)
    finally:
        dataset.close()


def test_deviations_cover_every_kind_and_are_recorded(tmp_path: Path) -> None:
    wells = {f"{r}{c}": LABELS for r in "ABCD" for c in range(1, 6)}
    sim = PlateSimulation(hours=(72.0,), width=96, deviations=0.5, seed=8)
    result = simulate_plate(tmp_path, wells, sim)
    truth = read_ground_truth(result.ground_truth_csv)
    assert len(truth) == 10 and Counter(d.kind for d in truth).keys() == DEVIATION_KINDS.keys()
    for d in truth:
        if d.label:
            assert d.expected == LABELS[d.label] and d.actual != d.expected
    empty = next(d.well for d in truth if d.kind == "empty_well")
    assert json.loads(result.ground_truth_json.read_text())["deviations"]
    image = tifffile.imread(tmp_path / f"plate1_{empty}_s0_t72h.tif")
    normal = tifffile.imread(tmp_path / "plate1_A1_s0_t72h.tif")
    assert image.min() > normal.min()  # no dark spheroid in the empty well


def test_unknown_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mm-single"):
        simulate_plate(tmp_path, WELLS, PlateSimulation(fmt="ome-zarr"))
