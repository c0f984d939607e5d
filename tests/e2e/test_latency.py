"""File complete -> result in the store: the issue-2 latency bar, and a fast smoke run."""

from __future__ import annotations

import pytest

from edge_app.bench.folder_latency import measure_latency


def test_latency_smoke():
    report = measure_latency(n=6, size=256, rate=20.0)
    assert report.stored == 6
    assert 0 < report.latency_ms_median <= report.latency_ms_p99 < 5000
    assert {"segment", "morphometry", "quality", "read"} <= set(report.stage_ms_median)


@pytest.mark.slow
def test_latency_200_frames_2048_uint16():
    report = measure_latency(n=200, size=2048, rate=4.0)
    assert report.stored == 200
    # Measured ~30 ms median / ~50 ms p99 on 2 cores; the bound leaves room for noisy CI.
    assert report.latency_ms_median < 250
    assert report.latency_ms_p99 < 1000
