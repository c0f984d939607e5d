"""Tail an NDTiff dataset while it is written: new ``NDTiff.index`` entries become images.

An index entry appears only after its pixels and metadata are on disk, so each complete
entry is a finished image. The tail stops at a partial trailing entry (Python writer
mid-flush) or at the zero padding the Java writer pre-allocates, and resumes there later.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.sources.readers import UnreadableFrame

log = logging.getLogger(__name__)


INDEX_FILE = "NDTiff.index"
STACK_MARK = "NDTiffStack"
_TAIL_BYTES = 32
_MAX_FIELD = 1 << 20


@dataclass(frozen=True)
class NDTiffEntry:
    """One complete index entry: its axes, raw bytes and source URI."""

    axes: dict[str, Any]
    raw: bytes
    uri: str


def split_index_entries(data: bytes, start: int = 0) -> tuple[list[bytes], int]:
    """Complete entries in ``data`` from ``start`` and the offset after the last one."""
    entries: list[bytes] = []
    pos = start
    while pos + 4 <= len(data):
        (axes_len,) = struct.unpack_from("<I", data, pos)
        if axes_len == 0 or axes_len > _MAX_FIELD:
            break  # Java zero padding (or garbage): nothing more is complete yet
        name_at = pos + 4 + axes_len
        if name_at + 4 > len(data):
            break
        (name_len,) = struct.unpack_from("<I", data, name_at)
        end = name_at + 4 + name_len + _TAIL_BYTES
        if name_len > _MAX_FIELD or end > len(data):
            break
        entries.append(data[pos:end])
        pos = end
    return entries, pos


def entry_uri(dataset_dir: Path, axes: dict[str, Any]) -> str:
    """``"<dataset dir>#<axes json with sorted keys>"``."""
    return f"{dataset_dir}#{json.dumps(axes, sort_keys=True)}"


def is_ndtiff_dataset(folder: Path) -> bool:
    """True when ``folder`` holds an ``NDTiff.index``."""
    return (folder / INDEX_FILE).is_file()


class NDTiffTail:
    """Follows one dataset folder; ``poll()`` returns entries added since the last call."""

    def __init__(self, dataset_dir: Path) -> None:
        self.path = dataset_dir
        self._offset = 0
        self._view: Any = None

    def poll(self) -> list[NDTiffEntry]:
        """New complete entries (possibly none). Never raises for a half-written index."""
        try:
            with (self.path / INDEX_FILE).open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except OSError as exc:
            log.debug("cannot read %s: %s", self.path / INDEX_FILE, exc)
            return []
        raws, used = split_index_entries(data)
        entries = []
        for raw in raws:
            axes = _axes_of(raw)
            if axes is not None:
                entries.append(NDTiffEntry(axes, raw, entry_uri(self.path, axes)))
        self._offset += used
        return entries

    def read(self, entry: NDTiffEntry) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
        """(pixels, image metadata, summary metadata) of one entry via ndstorage."""
        try:
            view = self._dataset()
            axes = view.add_index_entry(entry.raw)
            pixels = np.array(view.read_image(**axes))
            metadata = view.read_metadata(**axes)
        except UnreadableFrame:
            raise
        except Exception as exc:
            raise UnreadableFrame(f"NDTiff entry unreadable: {type(exc).__name__}: {exc}") from exc
        return pixels, dict(metadata or {}), dict(view.summary_metadata or {})

    def close(self) -> None:
        """Close the file handles ndstorage opened."""
        if self._view is not None:
            self._view.close()
            self._view = None

    def _dataset(self) -> Any:
        if self._view is None:
            from ndstorage import NDTiffDataset
            from ndstorage.file_io import NDTiffFileIO
            from ndstorage.ndtiff_file import SingleNDTiffReader

            stacks = sorted(p for p in self.path.glob(f"*{STACK_MARK}*.tif"))
            if not stacks:
                raise UnreadableFrame("NDTiff dataset has an index but no NDTiffStack file")
            opened: list[Any] = []  # ndstorage leaves a file open when its header check fails

            def tracked_open(path: str, mode: str = "rb") -> Any:
                opened.append(_open_unbuffered(path, mode))
                return opened[-1]

            try:
                reader = SingleNDTiffReader(str(stacks[0]),
                                            file_io=NDTiffFileIO(open_function=tracked_open))
                try:
                    summary = reader.summary_md
                finally:
                    reader.close()
                view = NDTiffDataset(
                    os.path.join(str(self.path), ""),
                    file_io=NDTiffFileIO(open_function=tracked_open),
                    summary_metadata=summary,
                )
            except BaseException:
                for handle in opened:
                    handle.close()
                raise
            view.summary_metadata = summary
            self._view = view
        return self._view


def _open_unbuffered(path: str, mode: str = "rb") -> Any:
    """Raw file objects: a buffered reader would keep read-ahead zeros of the sparse,
    pre-allocated stack file and return them for images written later."""
    return open(path, mode, buffering=0)


def _axes_of(raw: bytes) -> dict[str, Any] | None:
    (axes_len,) = struct.unpack_from("<I", raw, 0)
    try:
        axes = json.loads(raw[4 : 4 + axes_len].decode("utf-8"))
    except ValueError:
        log.warning("skipping an NDTiff index entry with unreadable axes")
        return None
    return axes if isinstance(axes, dict) else None
