"""Per-well history and the growth forecast a new frame is compared with.

Area: the spheroid's area is extrapolated from the well's previous frames (exponential growth
per hour, the local form of a Gompertz curve) to the new frame's time. Appearance: when a
next-frame engine is loaded, it predicts the new frame from the previous ones and the
structural similarity (SSIM) of prediction and observation is recorded, with the one SSIM
the trainer reports too (:func:`engines.metrics.ssim`, Gaussian window sigma 1.5).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edge_app.core.results import Forecast
from engines.metrics import ssim


@dataclass(frozen=True)
class _Visit:
    hours: float
    area: float
    image: np.ndarray | None  # at the forecaster's size, [0, 1]


def extrapolate_area(visits: list[_Visit], hours: float) -> float | None:
    """Area expected at ``hours`` from the last two visits (log-linear in time).

    One visit gives no growth rate, so no forecast (spheroids grow tens of percent a day:
    "same as last time" would be a false alarm).
    """
    if len(visits) < 2 or visits[-1].hours <= visits[-2].hours:
        return None
    last, prev = visits[-1], visits[-2]
    rate = math.log(last.area / prev.area) / (last.hours - prev.hours)
    return last.area * math.exp(rate * (hours - last.hours))


class WellHistory:
    """Keeps the last few usable visits of each (plate, well, site) and makes forecasts."""

    def __init__(self, forecaster: Any | None = None, keep: int = 3) -> None:
        self.forecaster = forecaster
        self.context = int(getattr(forecaster, "context", 2))
        self._visits: dict[tuple[Any, ...], deque[_Visit]] = {}
        self._keep = max(keep, self.context)

    def compare(self, key: tuple[Any, ...], pixels: np.ndarray, hours: float | None,
                area: float | None, labels: Mapping[str, str] | None = None
                ) -> tuple[Forecast | None, np.ndarray | None]:
        """Forecast for this frame from earlier visits; returns it and the frame's model image."""
        small = None
        if self.forecaster is not None:
            small = self.forecaster.model_image(pixels)[1]
        visits = list(self._visits.get(key, ()))
        if hours is None or area is None or not visits or hours <= visits[-1].hours:
            return None, small
        expected = extrapolate_area(visits, hours)
        if expected is None:
            return None, small
        similarity = None
        context = [v.image for v in visits[-self.context:] if v.image is not None]
        if small is not None and len(context) == self.context:
            meta = self.forecaster.meta(labels, hours - visits[-1].hours)
            predicted = self.forecaster.forecast(context, meta)
            similarity = ssim(np.clip(predicted, 0, 1), small, data_range=1.0)
        return Forecast(area_ratio=area / expected, ssim=similarity,
                        from_hours=tuple(v.hours for v in visits)), small

    def remember(self, key: tuple[Any, ...], hours: float | None, area: float | None,
                 small: np.ndarray | None) -> None:
        """Add a usable visit (frames without time or object are not history)."""
        if hours is None or area is None or area <= 0:
            return
        visits = self._visits.setdefault(key, deque(maxlen=self._keep))
        if visits and hours <= visits[-1].hours:
            return
        visits.append(_Visit(hours, area, small))
