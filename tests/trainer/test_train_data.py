"""SLiMIA reader (atlas and hand-made quirky names), folder + CSV, splits, time series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from trainer.data.atlas_source import AtlasPairSource, AtlasSource, row_labels
from trainer.data.folder_csv import FolderCsvError, read_folder_csv
from trainer.data.records import IPP_LABELS, RecordSource
from trainer.data.slimia import parse_slimia_name, read_slimia
from trainer.data.splits import leave_microscope_out, split_by_replicate, split_fractions
from trainer.data.timeseries import RecordPairSource, group_sequences, make_pairs
from trainer.synth.atlas import AtlasStream, write_atlas


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("atlas")
    write_atlas(root, 20, seed=3, width=128)
    return root


def test_reader_reads_the_atlas_with_labels_and_masks(atlas: Path) -> None:
    index = read_slimia(atlas)
    assert len(index.records) == 20 and index.unparsed == () and index.missing_masks == 0
    stream = AtlasStream(3, 128)
    expected = {row_labels(stream.row(i))["cell_line"] for i in range(20)}
    assert {r.labels["cell_line"] for r in index.records} == expected
    for record in index.records:
        assert set(IPP_LABELS) <= set(record.labels)
        assert record.labels["microscope"] == record.image.relative_to(atlas).parts[0]
        assert record.mask is not None and record.mask.stem == record.image.name[:-9]
        assert float(record.labels["timepoint"]) == record.hours
    sample = RecordSource(index.records).sample(0)
    assert sample.image.shape == sample.mask.shape and sample.mask.dtype == bool
    assert 0 < sample.mask.mean() < 1


def test_parser_tolerates_the_real_quirks() -> None:
    labels, hours = parse_slimia_name(
        "MCF10A_DMEMF12-BME_LiquidOverlay-ULA_3000cells_082h_B1_T5_10x.ome.tiff")
    assert hours == 82.0 and labels["timepoint"] == "82" and labels["magnification"] == "10X"
    assert labels == {"cell_line": "MCF10A", "culture_medium": "DMEMF12-BME",
                      "formation_method": "LiquidOverlay-ULA", "seeding_density": "3000",
                      "timepoint": "82", "biological_rep": "B1", "technical_rep": "T5",
                      "magnification": "10X"}
    labels, hours = parse_slimia_name("CT5.3hTERT_RPMI_HangingDrop_800cells_72h_B02_T12_4X.ome.tif")
    assert (hours, labels["cell_line"], labels["biological_rep"]) == (72.0, "CT5.3hTERT", "B2")
    assert labels["technical_rep"] == "T12" and labels["magnification"] == "4X"
    assert parse_slimia_name("HCT116_DMEMLG_ULA_2000cells_B1_T1_10X.ome.tiff") is None
    assert parse_slimia_name("notes.ome.tiff") is None


def test_reader_handles_missing_masks_and_odd_names(tmp_path: Path) -> None:
    image = np.full((32, 40), 900, np.uint16)
    names = ["HCT116_DMEMLG_LiquidOverlay-ULA_2000cells_96h_B1_T1_10x.ome.tiff",
             "HCT116_DMEMLG_LiquidOverlay-ULA_2000cells_096h_B1_T2_10X.ome.tiff",
             "stray_file.ome.tiff"]
    for name in names:
        path = tmp_path / "Axiovert200M" / "HCT116 images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, image)
    mask = tmp_path / "Axiovert200M" / "Manual segmentations" / "HCT116" / (
        names[1].removesuffix(".ome.tiff") + ".tiff")
    mask.parent.mkdir(parents=True)
    tifffile.imwrite(mask, np.zeros((32, 40), np.uint8))
    index = read_slimia(tmp_path)
    assert [p.name for p in index.unparsed] == ["stray_file.ome.tiff"]
    by_rep = {r.labels["technical_rep"]: r for r in index.records}
    assert by_rep["T1"].mask is None and by_rep["T2"].mask == mask
    assert {r.labels["timepoint"] for r in index.records} == {"96"}
    assert {r.labels["microscope"] for r in index.records} == {"Axiovert200M"}
    assert index.missing_masks == 1


def test_folder_csv(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for name in ("a.tif", "b.tif", "a_mask.tif"):
        tifffile.imwrite(tmp_path / "img" / name, np.ones((8, 8), np.uint8))
    csv = tmp_path / "labels.csv"
    csv.write_text("file,mask,cell_line,timepoint\nimg/a.tif,img/a_mask.tif,HCT116,48h\n"
                   "img/b.tif,,MCF7,\n", encoding="utf-8")
    records = read_folder_csv(csv)
    assert [r.labels for r in records] == [{"cell_line": "HCT116", "timepoint": "48h"},
                                            {"cell_line": "MCF7"}]
    assert records[0].hours == 48.0 and records[1].hours is None
    assert records[0].mask is not None and records[1].mask is None
    csv.write_text("file,cell_line\nimg/missing.tif,HCT116\n", encoding="utf-8")
    with pytest.raises(FolderCsvError, match="row 2"):
        read_folder_csv(csv)


def _labels(n: int) -> list[dict[str, str]]:
    return [{"technical_rep": f"T{1 + i % 12}", "microscope": ["A", "B", "C"][i % 3]}
            for i in range(n)]


def test_splits_are_deterministic_disjoint_and_complete() -> None:
    labels = _labels(240)
    keys = [f"img{i}" for i in range(240)]
    for split in (split_by_replicate(labels, keys=keys),
                  split_by_replicate(labels, "t1-t8", keys=keys),
                  leave_microscope_out(labels, "B", keys=keys)):
        parts = [set(split.train), set(split.val), set(split.test)]
        assert sum(map(len, parts)) == 240 and set().union(*parts) == set(range(240))
        assert all(len(p) for p in parts)
    paper = split_by_replicate(labels, keys=keys)
    assert {labels[i]["technical_rep"] for i in paper.train} == {"T1", "T2", "T3", "T4"}
    assert {labels[i]["technical_rep"] for i in paper.val} == {"T5", "T8"}
    wide = split_by_replicate(labels, "t1-t8", keys=keys)
    assert all(int(labels[i]["technical_rep"][1:]) > 8 for i in wide.test)
    assert wide == split_by_replicate(labels, "t1-t8", keys=keys)
    # order-independent: shuffling the list gives the same items in each part
    order = np.random.default_rng(0).permutation(240)
    shuffled = split_by_replicate([labels[i] for i in order], "t1-t8",
                                  keys=[keys[i] for i in order])
    assert {keys[order[i]] for i in shuffled.val} == {keys[i] for i in wide.val}
    loo = leave_microscope_out(labels, "B", keys=keys)
    assert {labels[i]["microscope"] for i in loo.test} == {"B"}
    assert "B" not in {labels[i]["microscope"] for i in (*loo.train, *loo.val)}
    with pytest.raises(ValueError, match="present"):
        leave_microscope_out(labels, "Z")


def test_split_fractions_keep_groups_together() -> None:
    groups = [f"g{i // 4}" for i in range(400)]
    split = split_fractions(groups)
    for part in (split.train, split.val, split.test):
        names = {groups[i] for i in part}
        assert all(groups[j] not in names for other in (split.train, split.val, split.test)
                   if other is not part for j in other)
    assert 0.55 < len(split.train) / 400 < 0.85


def test_time_series_pairs(tmp_path: Path) -> None:
    from trainer.data.records import ImageRecord

    base = {"microscope": "IncucyteS3", "cell_line": "MCF10A", "culture_medium": "DMEMF12-BME",
            "formation_method": "ULA", "seeding_density": "3000", "magnification": "10X",
            "biological_rep": "B1", "technical_rep": "T1"}
    records = [ImageRecord(tmp_path / f"s{h}.tif", None, {**base, "timepoint": str(h)}, h)
               for h in (82, 70, 74, 78, 90)]
    other = ImageRecord(tmp_path / "o.tif", None, {**base, "technical_rep": "T2"}, 70.0)
    sequences = group_sequences([*records, other])
    assert len(sequences) == 2
    longest = max(sequences.values(), key=len)
    assert [r.hours for r in longest] == [70, 74, 78, 82, 90]
    pairs = make_pairs(sequences)
    # 5 frames: context (0,1) -> 2,3,4; (1,2) -> 3,4; (2,3) -> 4
    assert len(pairs) == 6
    assert all(p.context[0].hours < p.context[1].hours < p.target.hours for p in pairs)
    assert {p.steps for p in pairs} == {1, 2, 3}
    assert len(make_pairs(sequences, 1, 1)) == 3
    for i, h in enumerate((70, 74, 78)):
        tifffile.imwrite(tmp_path / f"s{h}.tif", np.full((16, 16), i, np.uint8))
    pair = RecordPairSource(make_pairs(sequences, 1, 1)[:1]).pair(0)
    assert pair.gap_hours == 4 and int(pair.target[0, 0]) == 2


def test_atlas_sources_render_on_the_fly() -> None:
    source = AtlasSource(4, seed=3, width=128)
    first = source.sample(2)
    assert first.labels == source.labels(2) and first.mask is not None
    assert np.array_equal(first.image, AtlasSource(4, seed=3, width=128).sample(2).image)
    with pytest.raises(IndexError):
        source.sample(4)
    pairs = AtlasPairSource(2, seed=1, width=64)
    pair = pairs.pair(1)
    assert pair.context[0].shape == pair.target.shape == (64, 64)
    assert pair.context_hours[0] < pair.context_hours[1] < pair.target_hours
    assert pair.labels == pairs.labels(1)
