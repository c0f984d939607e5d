"""Area forecasts from a well's history."""

from __future__ import annotations

import pytest

from edge_app.pipeline.forecasting import WellHistory, extrapolate_area


def test_area_forecast_needs_two_visits_and_follows_exponential_growth():
    history = WellHistory()
    key = ("P", "A1", 0)
    history.remember(key, 24.0, 1000.0, None)
    assert extrapolate_area(list(history._visits[key]), 48.0) is None
    history.remember(key, 48.0, 2000.0, None)  # doubled in 24 h
    assert extrapolate_area(list(history._visits[key]), 72.0) == pytest.approx(4000.0)
    forecast, _ = history.compare(key, None, 72.0, 3000.0)
    assert forecast.area_ratio == pytest.approx(0.75)
    assert forecast.ssim is None and forecast.from_hours == (24.0, 48.0)


def test_history_ignores_frames_without_time_object_or_going_back():
    history = WellHistory()
    key = ("P", "A1", 0)
    history.remember(key, None, 1000.0, None)
    history.remember(key, 24.0, None, None)
    history.remember(key, 24.0, 1000.0, None)
    history.remember(key, 12.0, 900.0, None)  # older than the last visit
    assert [v.hours for v in history._visits[key]] == [24.0]
    assert history.compare(key, None, 24.0, 1000.0) == (None, None)
