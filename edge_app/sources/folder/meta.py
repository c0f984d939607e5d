"""Assemble ``FrameMeta`` for files and NDTiff entries from metadata, file name and mtime.

Precedence: Micro-Manager metadata (``PositionName``, ``ElapsedTime-ms``, ``Axes``), then the
file-name pattern, then the file's modification time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from edge_app.core.frames import Frame, FrameMeta
from edge_app.sources.folder.mm_layout import MetadataTxtCache, MMFields, mm_fields
from edge_app.sources.folder.ndtiff_live import INDEX_FILE, NDTiffEntry, NDTiffTail
from edge_app.sources.naming import NameFieldError, NameFields, NameParser
from edge_app.sources.readers import ImageRecord, UnreadableFrame, read_image

#: Reads one image file (``read_image``; a seam where tests inject faults).
ImageReader = Callable[[Path], ImageRecord]


def file_name_fields(path: Path, pattern: NameParser | None) -> NameFields:
    """Fields from the file name, else from its folder name (MM position folders).

    Raises:
        UnreadableFrame: the name matched but a group cannot be its field (``t48h`` hours).
    """
    if pattern is None:
        return NameFields()
    try:
        return pattern.parse(path.name) or pattern.parse(path.parent.name) or NameFields()
    except NameFieldError as exc:
        raise UnreadableFrame(str(exc)) from None


def build_meta(
    uri: str,
    mm: MMFields,
    names: NameFields,
    *,
    mtime_ns: int | None,
    plate_fallback: str | None,
) -> FrameMeta:
    """One ``FrameMeta``; ``acquired_at`` is StartTime + elapsed, else the file mtime."""
    acquired = None
    if mm.start_time is not None:
        acquired = mm.start_time + timedelta(seconds=mm.elapsed_s or 0.0)
    elif mtime_ns is not None:
        acquired = datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC)
    extra: dict[str, Any] = dict(mm.extra)
    if names.labels:
        extra["name_labels"] = dict(names.labels)
    time_index = mm.timepoint_index if mm.timepoint_index is not None else names.time
    return FrameMeta(
        uri=uri,
        plate_id=names.plate or plate_fallback,
        well=mm.well or names.well,
        site=_first_int(mm.site, names.site),
        hours=names.hours,
        elapsed_s=mm.elapsed_s,
        acquired_at=acquired,
        magnification=names.labels.get("magnification"),
        pixel_size_um=mm.pixel_size_um,
        timepoint_index=time_index,
        extra=extra,
    )


def acquisition_plate(path: Path, root: Path) -> str | None:
    """The acquisition folder's name: the first folder below the watched root, if any."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else root.name or None


def _first_int(*values: int | None) -> int:
    for value in values:
        if value is not None:
            return value
    return 0


def file_frame(
    path: Path,
    signature: tuple[int, int],
    root: Path,
    pattern: NameParser | None,
    mm: MetadataTxtCache,
    reader: ImageReader = read_image,
) -> Frame:
    """Read one image file into a ``Frame``; raises ``UnreadableFrame`` (or ``IncompleteFile``).

    ``signature`` is the file's (size, mtime_ns); both travel in ``meta.extra`` with the read
    time, so the store can skip the file on restart without reading it again.
    """
    size, mtime_ns = signature
    started = time.perf_counter()
    record = reader(path)
    read_ms = (time.perf_counter() - started) * 1e3
    image_md, summary = mm.image_metadata(path, record.metadata)
    meta = build_meta(
        str(path),
        mm_fields(image_md, summary),
        file_name_fields(path, pattern),
        mtime_ns=mtime_ns,
        plate_fallback=acquisition_plate(path, root),
    )
    extra = {**meta.extra, "size": size, "mtime_ns": mtime_ns, "read_ms": read_ms}
    if record.format:
        extra["format"] = record.format
    return Frame(record.pixels, replace(meta, extra=extra))


def entry_frame(
    tail: NDTiffTail, entry: NDTiffEntry, root: Path, pattern: NameParser | None
) -> Frame:
    """Read one NDTiff index entry into a ``Frame``; raises ``UnreadableFrame``."""
    pixels, image_md, summary = tail.read(entry)
    meta = build_meta(
        entry.uri,
        mm_fields({"Axes": entry.axes, **image_md}, summary),
        file_name_fields(tail.path, pattern),
        mtime_ns=None,
        plate_fallback=acquisition_plate(tail.path / INDEX_FILE, root),
    )
    try:
        return Frame(pixels, replace(meta, extra={**meta.extra, "format": "ndtiff"}))
    except ValueError as exc:
        raise UnreadableFrame(f"NDTiff image is not one plane: {exc}") from exc
