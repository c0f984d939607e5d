"""Values produced by the pipeline: quality, per-frame results and alerts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from edge_app.core.frames import FrameMeta
from engines.morphometry import ShapeDescriptors


class Quality(StrEnum):
    """Why a frame is not fit for protocol verdicts (``OK`` when it is)."""

    OK = "ok"
    NO_SPHEROID = "no_spheroid"
    SEVERAL_OBJECTS = "several_objects"
    TOUCHES_BORDER = "touches_border"
    OUT_OF_FOCUS = "out_of_focus"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Forecast:
    """How this frame compares with the one forecast from the well's previous frames.

    ``area_ratio`` is observed / forecast spheroid area; ``ssim`` the structural similarity of
    the observed and forecast images at the model's size (``None`` without a next-frame
    engine).
    """

    area_ratio: float
    ssim: float | None = None
    from_hours: tuple[float, ...] = ()


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline learned from one frame."""

    meta: FrameMeta
    sha: str
    width: int
    height: int
    dtype: str
    shape: ShapeDescriptors | None
    quality: tuple[Quality, ...]
    focus: float
    n_objects: int
    segmenter: str
    hours: float | None
    processed_at: datetime
    timings_ms: dict[str, float] = field(default_factory=dict)
    predictions: dict[str, dict[str, float]] | None = None
    forecast: Forecast | None = None
    #: Intensity statistics of the object (``edge_app.alerts.features.appearance``).
    appearance: dict[str, float] | None = None
    #: The IPP engine's embedding of the frame, and its out-of-distribution score / verdict.
    embedding: tuple[float, ...] | None = None
    ood_score: float | None = None
    in_domain: bool | None = None

    @property
    def usable(self) -> bool:
        """True when the frame may be used for protocol verdicts."""
        return self.quality == (Quality.OK,)


@dataclass(frozen=True)
class Alert:
    """A disagreement or problem found in one frame of one well."""

    kind: str
    severity: Severity
    message: str
    uri: str
    plate_id: str | None
    well: str | None
    raised_at: datetime
    label: str | None = None
    expected: str | None = None
    observed: str | None = None
    state: AlertState = AlertState.OPEN
    #: What the alert rests on (JSON-able; see ``edge_app.alerts.messages``), or ``None``.
    evidence: dict[str, Any] | None = field(default=None, compare=False, hash=False)
