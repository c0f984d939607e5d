"""The well detail's data: frames, groups, curves and images, loaded off the GUI thread.

No Qt here. :func:`well_context` runs a few small queries; :func:`load_frame_view` and
:func:`load_thumbnail` read image files and segment them. The window calls all of them on
its worker thread and hands the frozen results to the widgets.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.dashboard.snapshot import GROUP_LABELS, AlertRow, PlateSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameInfo:
    """One processed frame of the well (no pixels)."""

    frame_id: int
    uri: str
    site: int
    hours: float | None
    area: float | None
    diameter: float | None
    quality: str
    predictions: dict[str, dict[str, float]] = field(default_factory=dict)
    forecast_area_ratio: float | None = None
    forecast_ssim: float | None = None

    @property
    def forecast_area(self) -> float | None:
        """The area forecast from earlier visits (observed / ratio)."""
        if self.area is None or not self.forecast_area_ratio:
            return None
        return self.area / self.forecast_area_ratio

    def caption(self, well: str) -> str:
        hours = "? h" if self.hours is None else f"{self.hours:g} h"
        return f"{well} · site {self.site} · {hours} since seeding · {self.quality or 'ok'}"


@dataclass(frozen=True)
class WellContext:
    """Everything about one well that comes from the store."""

    plate_id: str
    well: str
    expected: dict[str, str]
    frames: tuple[FrameInfo, ...]
    own_group: tuple[str, ...]
    looks_like: tuple[str, ...]
    looks_like_value: str | None
    alert: AlertRow | None
    group_curve: tuple[tuple[float, float], ...]  # (hours, median area of the group)
    thumbnails: dict[str, str] = field(default_factory=dict)  # well -> latest frame uri


def _frames(store: Any, plate_id: str, well: str) -> tuple[FrameInfo, ...]:
    rows = store.db.query(
        "select f.id, f.uri, f.site, f.hours, r.area, r.equivalent_diameter, r.quality, "
        "r.predictions, r.forecast_area_ratio, r.forecast_ssim from frames f "
        "join results r on r.frame_id = f.id where f.plate_id = ? and f.well = ? "
        "and f.status = 'processed' order by f.hours, f.site, f.id", [plate_id, well])
    return tuple(
        FrameInfo(r["id"], r["uri"], int(r["site"] or 0), r["hours"], r["area"],
                  r["equivalent_diameter"], r["quality"] or "",
                  json.loads(r["predictions"]) if r["predictions"] else {},
                  r["forecast_area_ratio"], r["forecast_ssim"])
        for r in rows)


def _group_of(plate: PlateSnapshot | None, well: str, label: str | None,
              value: str | None) -> tuple[str, ...]:
    """Wells whose plate map matches: on ``label == value`` when given, else the condition."""
    if plate is None or well not in plate.tiles:
        return ()
    if label and value is not None:
        wells = [w for w, t in plate.tiles.items() if t.expected.get(label) == value]
    else:
        key = plate.tiles[well].condition
        wells = [w for w, t in plate.tiles.items() if t.expected and t.condition == key]
    return tuple(w for w in wells if w != well)


def _curve(store: Any, plate_id: str, wells: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    if not wells:
        return ()
    marks = ", ".join("?" for _ in wells)
    by_hour: dict[float, list[float]] = {}
    for hours, area in store.db.execute(
            f"select f.hours, r.area from frames f join results r on r.frame_id = f.id "
            f"where f.plate_id = ? and f.well in ({marks}) and r.usable = 1 "
            f"and r.area is not null and f.hours is not null", [plate_id, *wells]):
        by_hour.setdefault(float(hours), []).append(float(area))
    return tuple((h, statistics.median(v)) for h, v in sorted(by_hour.items()))


def _latest_uris(store: Any, plate_id: str, wells: tuple[str, ...]) -> dict[str, str]:
    if not wells:
        return {}
    marks = ", ".join("?" for _ in wells)
    rows = store.db.execute(
        f"select well, uri from frames where id in (select max(id) from frames where "
        f"plate_id = ? and well in ({marks}) and status = 'processed' group by well)",
        [plate_id, *wells])
    return {w: u for w, u in rows}


def well_context(store: Any, plate: PlateSnapshot | None, well: str,
                 alert: AlertRow | None = None) -> WellContext:
    """The well's frames, replicate group, look-alike group and the group's growth curve.

    The groups come from the alert's evidence when it has them (``own_group``,
    ``looks_like.wells``), else from the plate map: the wells seeded with the same condition,
    and the wells whose plate map has the value this well looks like for the alert's label.
    """
    plate_id = plate.plate_id if plate is not None else (alert.plate_id if alert else "") or ""
    tile = plate.tiles.get(well) if plate is not None else None
    expected = dict(tile.expected) if tile is not None else {}
    evidence: dict[str, Any] = (alert.evidence if alert is not None else None) or {}
    label = alert.label if alert is not None and alert.label in expected else None
    own = tuple(str(w) for w in evidence.get("own_group") or ()) or _group_of(
        plate, well, None, None)
    looks: dict[str, Any] = evidence.get("looks_like") or {}
    if not isinstance(looks, dict):
        looks = {}
    value = looks.get("value") or (alert.observed if alert is not None and label else None)
    looks_like = tuple(str(w) for w in looks.get("wells") or ()) or (
        _group_of(plate, well, label, value) if label and value else ())
    own = tuple(w for w in own if w != well)
    return WellContext(
        plate_id=plate_id, well=well, expected=expected, frames=_frames(store, plate_id, well),
        own_group=own, looks_like=tuple(w for w in looks_like if w != well),
        looks_like_value=value, alert=alert, group_curve=_curve(store, plate_id, own),
        thumbnails=_latest_uris(store, plate_id, own + looks_like),
    )


# --- pixels ----------------------------------------------------------------------------
MASK_RGB = (0, 220, 255)


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """The boundary pixels of a boolean mask (``width`` pixels thick)."""
    import cv2

    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    return mask & ~eroded


def overlay(grey: np.ndarray, mask: np.ndarray | None = None,
            cam: np.ndarray | None = None, alpha: float = 0.45) -> np.ndarray:
    """RGB uint8: the grey frame, a Grad-CAM heat map blended in, the mask outline on top."""
    import cv2

    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    if cam is not None:
        heat = cv2.resize(np.clip(cam, 0, 1).astype(np.float32), (grey.shape[1], grey.shape[0]))
        coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
        rgb = (1 - alpha) * rgb + alpha * coloured.astype(np.float32)
    out = np.clip(rgb, 0, 255).astype(np.uint8)
    if mask is not None and mask.shape == grey.shape:
        out[outline(mask)] = MASK_RGB
    return np.ascontiguousarray(out)


@dataclass(frozen=True)
class FrameView:
    """A frame ready to show: 8-bit grey pixels and the spheroid mask at the same size."""

    pixels: np.ndarray
    mask: np.ndarray | None
    uri: str
    error: str | None = None
    outlined: np.ndarray | None = None  # RGB: the frame with the mask outline drawn in


def _read(uri: str) -> np.ndarray:
    from edge_app.sources.readers import read_image

    return np.asarray(read_image(Path(uri)).pixels)


def to_display(pixels: np.ndarray, side: int) -> np.ndarray:
    """Downscale so the longer side is at most ``side``; stretch 1-99 % to 8 bits."""
    import cv2

    image: np.ndarray = pixels.astype(np.float32)
    if image.ndim == 3:
        image = image.mean(axis=2)
    scale = side / max(image.shape)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(image.shape[1] * scale)),
                                   max(1, round(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    lo, hi = np.percentile(image, (1, 99))
    out = np.clip((image - lo) / max(float(hi - lo), 1e-6), 0, 1) * 255
    return np.ascontiguousarray(out.astype(np.uint8))


def load_frame_view(uri: str, side: int = 300) -> FrameView:
    """Read and segment one frame for display (classical segmentation, as the fallback
    engine); a missing or unreadable file gives a view with ``error`` set."""
    import cv2

    from engines.classical import ClassicalSegmenter

    try:
        raw = _read(uri)
    except Exception as exc:  # shown in the detail instead of the image
        return FrameView(np.zeros((side, side), np.uint8), None, uri,
                         f"cannot read {Path(uri).name}: {exc}")
    shown = to_display(raw, side)
    segmentation = ClassicalSegmenter().segment(raw)
    mask = None
    if segmentation.found:
        mask = cv2.resize(segmentation.mask.astype(np.uint8), (shown.shape[1], shown.shape[0]),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
    return FrameView(shown, mask, uri, outlined=overlay(shown, mask))


def load_thumbnail(uri: str, side: int = 96) -> np.ndarray | None:
    try:
        return to_display(_read(uri), side)
    except Exception:  # a missing thumbnail is left blank
        log.debug("thumbnail %s unreadable", uri, exc_info=True)
        return None


def conformal_sets(predictions: dict[str, dict[str, float]], qhats: dict[str, float]
                   ) -> dict[str, list[str]]:
    """Per head, the classes whose probability reaches ``1 - qhat`` (top class always in)."""
    out = {}
    for head, probs in predictions.items():
        if head not in qhats or not probs:
            continue
        top = max(probs, key=lambda k: probs[k])
        out[head] = sorted({top} | {c for c, p in probs.items() if p >= 1.0 - qhats[head]},
                           key=lambda c: -probs[c])
    return out


def engine_qhats(error_rate: float = 0.01) -> dict[str, float]:
    """Conformal thresholds of the installed IPP engine at ``error_rate`` ({} without one)."""
    try:
        from engines.bundle import default_bundle, load_bundle

        path = default_bundle("ipp")
        if path is None:
            return {}
        conformal = load_bundle(path).manifest.calibration.conformal
    except Exception:  # no engine, or an unreadable manifest: no sets shown
        log.debug("no conformal thresholds", exc_info=True)
        return {}
    out = {}
    for head, table in conformal.items():
        if table:
            rate = min(table, key=lambda r: abs(float(r) - error_rate))
            out[head] = float(table[rate])
    return out


__all__ = ["GROUP_LABELS", "FrameInfo", "FrameView", "WellContext", "conformal_sets",
           "engine_qhats", "load_frame_view", "load_thumbnail", "well_context"]

class ForecastPreview:
    """The next-frame engine's forecast of a frame from the well's earlier usable visits of
    the same site, beside the frame that arrived (both at the model's size, 8-bit).

    The installed engine is loaded once, on first use, on the calling (worker) thread, with
    ONNX Runtime on one thread so it never competes with the pipeline.
    """

    def __init__(self, bundle: str | Path | None = None) -> None:
        self._bundle = bundle
        self._engine: Any = None
        self._problem: str | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._engine is None and self._problem is None:
                try:
                    from engines.bundle import default_bundle
                    from engines.tasks import ForecastEngine

                    path = self._bundle or default_bundle("nextframe")
                    if path is None:
                        raise ValueError("no next-frame engine is installed")
                    engine = ForecastEngine(path, "onnx", threads=1)
                    engine.load()
                    self._engine = engine
                except Exception as exc:  # shown instead of the forecast image
                    self._problem = f"no forecast image: {exc}"
            return self._engine

    def __call__(self, ctx: WellContext, info: FrameInfo
                 ) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        engine = self._load()
        if engine is None:
            return None, None, self._problem or "no forecast image"
        earlier = [f for f in ctx.frames if f.site == info.site and f.hours is not None
                   and info.hours is not None and f.hours < info.hours
                   and f.quality in ("", "ok")]
        if len(earlier) < engine.context:
            return None, None, (f"no forecast image: it needs {engine.context} earlier usable "
                                f"visits of this site, this frame has {len(earlier)}")
        visits = earlier[-engine.context:]
        gap = float(info.hours or 0.0) - float(visits[-1].hours or 0.0)
        predicted = engine.forecast([_read(f.uri) for f in visits],
                                    engine.meta(ctx.expected, gap))
        actual = engine.model_image(_read(info.uri))[1]
        hours = ", ".join(f"{f.hours:g}" for f in visits)
        return (_to8(predicted), _to8(actual),
                f"left: forecast from the visits at {hours} h · right: what arrived")


def _to8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
