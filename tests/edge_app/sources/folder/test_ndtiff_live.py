"""NDTiff tailing: tolerant index splitting and live reads through ndstorage."""

from __future__ import annotations

import gc
import struct
from pathlib import Path

import numpy as np
import pytest
from ndstorage import NDTiffDataset

from edge_app.sources.folder.ndtiff_live import (
    INDEX_FILE,
    NDTiffTail,
    entry_uri,
    split_index_entries,
)
from tests.edge_app.sources.conftest import finish_ndtiff


def _entry(axes: bytes, name: bytes = b"acq_NDTiffStack.tif") -> bytes:
    return (
        struct.pack("<I", len(axes))
        + axes
        + struct.pack("<I", len(name))
        + name
        + struct.pack("<8I", 100, 32, 32, 1, 0, 200, 10, 0)
    )


def test_splitter_stops_at_partial_entry_and_padding() -> None:
    first, second = _entry(b'{"time": 0}'), _entry(b'{"time": 1}')
    data = first + second
    for cut in range(len(first), len(data)):
        entries, used = split_index_entries(data[:cut])
        assert entries == [first] and used == len(first)
    assert split_index_entries(data) == ([first, second], len(data))
    padded = data + b"\x00" * 4096
    assert split_index_entries(padded) == ([first, second], len(data))
    assert split_index_entries(padded, len(first)) == ([second], len(data))


def test_splitter_on_empty_or_garbage() -> None:
    assert split_index_entries(b"") == ([], 0)
    assert split_index_entries(b"\xff\xff\xff\xff rest") == ([], 0)


def _write(root: Path, n: int, flush: bool) -> NDTiffDataset:
    dataset = NDTiffDataset(str(root), name="acq", writable=True)
    dataset.initialize({"StartTime": "2024-01-02 10:00:00.000 +0100"})
    for t in range(n):
        md = {"PositionName": "C5-Site_2", "ElapsedTime-ms": 500.0 * t}
        dataset.put_image({"time": t, "position": 0}, np.full((40, 48), t + 1, np.uint16), md)
        if flush:
            dataset._index_file.flush()
    return dataset


def _finish(dataset: NDTiffDataset) -> None:
    finish_ndtiff(dataset)
    gc.collect()


@pytest.mark.parametrize("flush", [True, False])
def test_tail_reads_entries_live_and_resumes(tmp_path: Path, flush: bool) -> None:
    dataset = _write(tmp_path, 3, flush)
    tail = NDTiffTail(Path(dataset.path))
    try:
        live = tail.poll()
        assert len(live) == (3 if flush else 0)  # the Python writer does not flush per entry
        _finish(dataset)
        rest = tail.poll()
        entries = live + rest
        assert [e.axes["time"] for e in entries] == [0, 1, 2]
        assert tail.poll() == []
        pixels, md, summary = tail.read(entries[2])
        assert int(pixels[0, 0]) == 3 and md["ElapsedTime-ms"] == 1000.0
        assert summary["StartTime"].startswith("2024")
        assert entries[0].uri == entry_uri(Path(dataset.path), {"position": 0, "time": 0})
        assert entries[0].uri.endswith('#{"position": 0, "time": 0}')
    finally:
        tail.close()
        _finish(dataset)


def test_tail_with_hand_truncated_index(tmp_path: Path) -> None:
    dataset = _write(tmp_path, 3, flush=True)
    _finish(dataset)
    index = Path(dataset.path) / INDEX_FILE
    data = index.read_bytes()
    index.write_bytes(data[:-7])
    tail = NDTiffTail(Path(dataset.path))
    try:
        assert [e.axes["time"] for e in tail.poll()] == [0, 1]
        index.write_bytes(data)
        assert [e.axes["time"] for e in tail.poll()] == [2]
    finally:
        tail.close()
