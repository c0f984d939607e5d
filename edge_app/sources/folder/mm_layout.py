"""Micro-Manager metadata: the one-TIFF-per-image layout's ``metadata.txt`` and image keys.

``metadata.txt`` is a JSON object streamed while the acquisition runs; its closing brace is
written only at the end, so it is parsed with fallbacks. Per-image metadata comes from the
ImageJ ``Info`` tag or the file's ``Metadata-``/``Coords-`` entry; ``StartTime`` from
``Summary``. :func:`mm_fields` turns either (or NDTiff metadata) into typed values.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_app.sources.naming import parse_position_name

log = logging.getLogger(__name__)

METADATA_FILE = "metadata.txt"
#: Keys copied into ``FrameMeta.extra`` when present.
EXTRA_KEYS = (
    "PositionName",
    "ElapsedTime-ms",
    "Axes",
    "Camera",
    "Exposure",
    "PixelSize_um",
    "Width",
    "Height",
    "PixelType",
    "FrameIndex",
    "PositionIndex",
    "XPositionUm",
    "YPositionUm",
    "ZPositionUm",
    "XPosition_um_Intended",
    "YPosition_um_Intended",
    "ZPosition_um_Intended",
)
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S.%f %z", "%Y-%m-%d %H:%M:%S %z", "%a %b %d %H:%M:%S %Z %Y")


@dataclass(frozen=True)
class MMFields:
    """Typed values from Micro-Manager metadata; ``None`` where absent."""

    position_name: str | None = None
    well: str | None = None
    site: int | None = None
    elapsed_s: float | None = None
    start_time: datetime | None = None
    timepoint_index: int | None = None
    pixel_size_um: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def parse_streamed_json(text: str) -> dict[str, Any]:
    """Parse a JSON object that may still be open (no closing brace, maybe a half entry)."""
    body = text.strip()
    candidates = [body, body.rstrip(",") + "}"]
    end = len(body)
    for _ in range(8):  # a half-written last entry: close after an earlier complete one
        end = body.rfind("}", 0, end)
        if end <= 0:
            break
        candidates.append(body[: end + 1] + "}")
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def parse_mm_time(text: Any) -> datetime | None:
    """Micro-Manager ``StartTime`` (``2024-01-02 10:00:00.000 +0100``) as aware UTC."""
    if not isinstance(text, str) or not text.strip():
        return None
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).astimezone(UTC)
        except ValueError:
            continue
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC)


class MetadataTxtCache:
    """Parsed ``metadata.txt`` per position folder, re-read only when the file changed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}

    def load(self, folder: Path) -> dict[str, Any]:
        """The parsed ``metadata.txt`` of ``folder`` (``{}`` when absent or unreadable)."""
        path = folder / METADATA_FILE
        try:
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            with self._lock:
                hit = self._cache.get(folder)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            value = parse_streamed_json(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return {}
        with self._lock:
            self._cache[folder] = (stamp, value)
        return value

    def image_metadata(self, image: Path, info: dict[str, Any]) -> tuple[dict, dict]:
        """(image metadata, summary) for one single-plane TIFF of the MM layout."""
        document = self.load(image.parent)
        summary = document.get("Summary") if isinstance(document.get("Summary"), dict) else {}
        merged: dict[str, Any] = {}
        for key, value in document.items():
            if not isinstance(value, dict) or "-" not in key:
                continue
            kind, _, name = key.partition("-")
            if kind in ("Metadata", "Coords", "FrameKey") and name.endswith(image.name):
                merged.update(value)
        merged.update(info)
        return merged, summary or {}


def mm_fields(image_md: dict[str, Any], summary: dict[str, Any]) -> MMFields:
    """Typed well, site, elapsed time, start time and time index from MM metadata dicts."""
    position = image_md.get("PositionName") or _axis(image_md, "position", str)
    parsed = parse_position_name(position) if isinstance(position, str) else None
    elapsed = _number(image_md.get("ElapsedTime-ms"))
    time_index = _axis(image_md, "time", int)
    if time_index is None:
        time_index = _int(image_md.get("FrameIndex", image_md.get("Frame")))
    pixel = _number(image_md.get("PixelSize_um", summary.get("PixelSize_um")))
    return MMFields(
        position_name=position if isinstance(position, str) else None,
        well=parsed[0] if parsed else None,
        site=parsed[1] if parsed else None,
        elapsed_s=elapsed / 1000.0 if elapsed is not None else None,
        start_time=parse_mm_time(summary.get("StartTime")),
        timepoint_index=time_index,
        pixel_size_um=pixel if pixel and pixel > 0 else None,
        extra={k: image_md[k] for k in EXTRA_KEYS if k in image_md},
    )


def _axis(image_md: dict[str, Any], name: str, kind: type) -> Any:
    axes = image_md.get("Axes")
    value = axes.get(name) if isinstance(axes, dict) else None
    if kind is int:
        return _int(value)
    return value if isinstance(value, kind) else None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None
