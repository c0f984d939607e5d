"""Acquisition writers in the formats the watcher reads, imitating how microscopes write them.

- ``tiff``: plain TIFFs ``{plate}_{well}_s{site}_t{hours}h.tif`` in one folder.
- ``mm-single``: Micro-Manager "separate image files": ``<acq>/<PositionName>/img_channel000_
  position{p:03d}_time{t:09d}_z000.tif``, per-image JSON in the ImageJ ``Info`` tag and a
  streamed per-position ``metadata.txt`` (flushed per image, closing brace only at the end).
- ``ndtiff``: an ndstorage ``NDTiffDataset`` whose index is flushed after every image, as the
  Java writer does.

TIFF bytes are written in place in a few flushed chunks, so a watcher sees partial files.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import tifffile

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameRecord:
    """One frame to write, with where and when it was 'acquired'."""

    image: np.ndarray
    plate_id: str
    well: str
    site: int
    hours: float
    time_index: int
    position_index: int
    elapsed_ms: float
    pixel_size_um: float

    @property
    def position_name(self) -> str:
        """Micro-Manager's HCS position label, e.g. ``A1-Site_0``."""
        return f"{self.well}-Site_{self.site}"


@dataclass(frozen=True)
class WriterOptions:
    """Where and how to write: acquisition name, start time, chunking and its pacing."""

    acq_name: str
    start_time: datetime
    chunks: int = 3
    chunk_delay_s: float = 0.0
    sleep: Callable[[float], None] = field(default=lambda _s: None)


class AcquisitionWriter(Protocol):
    """Lifecycle: ``write(frame)`` per image (returns the frame's URI), ``close()`` once."""

    def write(self, frame: FrameRecord) -> str: ...

    def close(self) -> None: ...


def mm_metadata(frame: FrameRecord, options: WriterOptions) -> dict[str, Any]:
    """Micro-Manager-style per-image metadata (PositionName, ElapsedTime-ms, Axes, ...)."""
    axes = {"channel": 0, "position": frame.position_index, "time": frame.time_index, "z": 0}
    h, w = frame.image.shape
    return {
        "PositionName": frame.position_name,
        "ElapsedTime-ms": round(frame.elapsed_ms, 3),
        "Axes": axes,
        "FrameIndex": frame.time_index,
        "PositionIndex": frame.position_index,
        "SliceIndex": 0,
        "ChannelIndex": 0,
        "Width": w,
        "Height": h,
        "PixelType": "GRAY8" if frame.image.dtype == np.uint8 else "GRAY16",
        "PixelSizeUm": round(frame.pixel_size_um, 6),
        "Prefix": options.acq_name,
        "Well": frame.well,
        "Site": frame.site,
    }


def summary_metadata(options: WriterOptions, frame: FrameRecord) -> dict[str, Any]:
    """The acquisition's ``Summary`` (StartTime in Micro-Manager's format)."""
    return {
        "Prefix": options.acq_name,
        "StartTime": options.start_time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " +0000",
        "PixelType": "GRAY8" if frame.image.dtype == np.uint8 else "GRAY16",
        "PixelSize_um": round(frame.pixel_size_um, 6),
        "AxisOrder": ["position", "time", "channel", "z"],
        "ChNames": ["BF"],
        "MicroManagerVersion": "2.0.3-sentinel-synth",
    }


def write_in_chunks(path: Path, payload: bytes, options: WriterOptions) -> None:
    """Write ``payload`` in place in ``options.chunks`` flushed pieces (no temp-and-rename)."""
    pieces = max(1, options.chunks)
    step = -(-len(payload) // pieces)
    with path.open("wb") as handle:
        for start in range(0, len(payload), step):
            if start:
                options.sleep(options.chunk_delay_s)
            handle.write(payload[start : start + step])
            handle.flush()


class PlainTiffWriter:
    """``{plate}_{well}_s{site}_t{hours}h.tif`` files in ``root``."""

    def __init__(self, root: Path, options: WriterOptions) -> None:
        self.root, self.options = root, options
        root.mkdir(parents=True, exist_ok=True)

    def write(self, frame: FrameRecord) -> str:
        path = self.root / f"{frame.plate_id}_{frame.well}_s{frame.site}_t{frame.hours:g}h.tif"
        buffer = io.BytesIO()
        tifffile.imwrite(
            buffer, frame.image, resolution=_resolution(frame), resolutionunit="CENTIMETER"
        )
        write_in_chunks(path, buffer.getvalue(), self.options)
        return str(path)

    def close(self) -> None:
        """Nothing stays open between images."""


class MMSingleTiffWriter:
    """Micro-Manager's one-TIFF-per-image layout with streamed per-position metadata.txt."""

    def __init__(self, root: Path, options: WriterOptions) -> None:
        self.folder = root / options.acq_name
        self.options = options
        self._metadata: dict[str, IO[str]] = {}
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, frame: FrameRecord) -> str:
        position = self.folder / frame.position_name
        position.mkdir(exist_ok=True)
        name = (
            f"img_channel000_position{frame.position_index:03d}_time{frame.time_index:09d}_z000.tif"
        )
        metadata = mm_metadata(frame, self.options) | {"FileName": name}
        buffer = io.BytesIO()
        tifffile.imwrite(
            buffer, frame.image, imagej=True, metadata={"Info": json.dumps(metadata, indent=1)}
        )
        write_in_chunks(position / name, buffer.getvalue(), self.options)
        self._append_metadata(frame, name, metadata)
        return str(position / name)

    def _append_metadata(self, frame: FrameRecord, name: str, metadata: dict[str, Any]) -> None:
        handle = self._metadata.get(frame.position_name)
        if handle is None:
            path = self.folder / frame.position_name / "metadata.txt"
            handle = self._metadata[frame.position_name] = path.open("w", encoding="utf-8")
            summary = summary_metadata(self.options, frame)
            handle.write('{\n"Summary": ' + json.dumps(summary, indent=1))
        handle.write(f',\n"Coords-{name}": ' + json.dumps(metadata["Axes"], indent=1))
        handle.write(f',\n"Metadata-{name}": ' + json.dumps(metadata, indent=1))
        handle.flush()

    def close(self) -> None:
        """Freeze the dataset: write each metadata.txt's closing brace."""
        for handle in self._metadata.values():
            handle.write("\n}\n")
            handle.close()
        self._metadata.clear()


class NDTiffWriter:
    """An NDTiff dataset (axes ``position``, ``time``) with the index flushed per image."""

    def __init__(self, root: Path, options: WriterOptions) -> None:
        self.root, self.options = root, options
        root.mkdir(parents=True, exist_ok=True)
        self._dataset: Any = None

    def write(self, frame: FrameRecord) -> str:
        from ndstorage import NDTiffDataset

        if self._dataset is None:
            self._dataset = NDTiffDataset(str(self.root), name=self.options.acq_name, writable=True)
            self._dataset.initialize(summary_metadata(self.options, frame))
        axes = {"position": frame.position_index, "time": frame.time_index}
        metadata = mm_metadata(frame, self.options) | {"Axes": axes}
        self._dataset.put_image(axes, frame.image, metadata)
        self._dataset._index_file.flush()  # imitate the Java writer: entries appear live
        return f"{self._dataset.path}#position={axes['position']},time={axes['time']}"

    def close(self) -> None:
        """Finish (truncate the pre-allocated file) and close the dataset's readers."""
        if self._dataset is not None:
            file_writer = self._dataset.current_writer
            self._dataset.finish()
            if file_writer is not None:  # ndstorage 0.1.18 leaves the writer's reader open
                file_writer.reader.close()
            self._dataset.close()
            self._dataset = None


def _resolution(frame: FrameRecord) -> tuple[float, float]:
    per_cm = 1e4 / frame.pixel_size_um
    return per_cm, per_cm


WRITERS: dict[str, Callable[[Path, WriterOptions], AcquisitionWriter]] = {
    "tiff": PlainTiffWriter,
    "mm-single": MMSingleTiffWriter,
    "ndtiff": NDTiffWriter,
}


def create_writer(fmt: str, root: Path, options: WriterOptions) -> AcquisitionWriter:
    """The writer registered as ``fmt``; unknown names raise listing the valid ones."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown acquisition format {fmt!r}; valid: {', '.join(WRITERS)}")
    return WRITERS[fmt](root, options)
