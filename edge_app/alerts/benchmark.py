"""Micro-benchmark of the protocol evidence: ``ProtocolEvidenceRule.evaluate`` per frame.

:func:`simulated_stream` makes a plate stream without images (frame results whose shape,
intensity statistics and IPP probabilities depend on the well's condition, plus noise);
:func:`time_protocol_rule` times the rule over it. ``sentinel bench`` can call the latter to
show the per-frame cost of the evidence (the bar: <= 5 ms median at 96 wells).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from edge_app.core.frames import FrameMeta
from edge_app.core.plate import PlateProtocol, WellProtocol
from edge_app.core.results import FrameResult, Quality
from edge_app.core.wells import plate_wells
from engines.morphometry import ShapeDescriptors

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_CONDITIONS = (
    ("HCT116", "DMEMLG", "2000", "LiquidOverlay-ULA"),
    ("HCT116", "RPMI", "2000", "LiquidOverlay-ULA"),
    ("NCIH460", "DMEMLG", "2000", "LiquidOverlay-ULA"),
    ("NCIH460", "RPMI", "5000", "LiquidOverlay-ULA"),
    ("SKOV3", "DMEMLG", "5000", "LiquidOverlay-Agarose"),
    ("SKOV3", "RPMI", "10000", "LiquidOverlay-Agarose"),
    ("MCF7", "DMEMLG", "10000", "LiquidOverlay-ULA"),
    ("MCF7", "RPMI", "5000", "LiquidOverlay-Agarose"),
)
_LABELS = ("cell_line", "culture_medium", "seeding_density", "formation_method")


@dataclass(frozen=True)
class RuleTiming:
    """Per-frame milliseconds of one run over a simulated stream."""

    frames: int
    median_ms: float
    p90_ms: float
    max_ms: float
    alerts: int


def simulated_plate(n_wells: int = 96, plate_id: str = "bench") -> PlateProtocol:
    """A plate map of ``len(_CONDITIONS)`` conditions in row-major blocks of equal size."""
    wells = plate_wells(96 if n_wells <= 96 else 384)[:n_wells]
    block = max(1, len(wells) // len(_CONDITIONS))
    rows = {}
    for i, well in enumerate(wells):
        values = _CONDITIONS[min(i // block, len(_CONDITIONS) - 1)]
        rows[well] = WellProtocol(well, dict(zip(_LABELS, values, strict=True)))
    return PlateProtocol(plate_id=plate_id, source="simulated", wells=rows)


def _effect(label: str, value: str) -> np.ndarray:
    """A fixed effect per label value (the same every run) on five traits: log size, tone,
    texture, inner spread and roundness, each a few times the frame-to-frame noise."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(f"{label}={value}"))
    return np.random.default_rng(seed).normal(0.0, 1.0, 5) * (0.15, 0.06, 0.004, 0.03, 0.04)


def _shape(rng: np.random.Generator, size: float, round_: float) -> ShapeDescriptors:
    r = size * float(np.exp(rng.normal(0, 0.05)))
    minor = r * float(np.clip(round_ + rng.normal(0, 0.02), 0.5, 1.0))
    return ShapeDescriptors(
        area=np.pi * r * minor, perimeter=np.pi * (r + minor), eccentricity=0.3,
        solidity=float(rng.uniform(0.9, 0.99)), extent=0.78, equivalent_diameter=2 * r,
        major_axis=2 * r, minor_axis=2 * minor, circularity=float(rng.uniform(0.8, 0.95)))


def simulated_stream(plate: PlateProtocol, *, sites: int = 2, timepoints: int = 3,
                     seed: int = 0, truth: Mapping[str, Mapping[str, str]] | None = None,
                     invisible: tuple[str, ...] = ("culture_medium",)
                     ) -> Iterator[FrameResult]:
    """Frame results in acquisition order (time point, well, site).

    A well looks like what it holds: ``truth`` (well -> labels) overrides the plate map for
    mislabelled wells. Every label value shifts five traits by a fixed amount, except the
    ``invisible`` labels, which change nothing.
    """
    rng = np.random.default_rng(seed)
    for t in range(timepoints):
        for well, protocol in plate.wells.items():
            labels = {**protocol.labels, **(truth or {}).get(well, {})}
            traits = np.array([np.log(40.0 * (1 + 0.3 * t)), 0.4, 0.015, 0.15, 0.92])
            for label, value in labels.items():
                if label not in invisible:
                    traits = traits + _effect(label, value)
            for site in range(sites):
                yield _frame(plate.plate_id, well, site, t, traits, rng)


def _frame(plate_id: str, well: str, site: int, t: int, traits: np.ndarray,
           rng: np.random.Generator) -> FrameResult:
    noise = rng.normal(0.0, 1.0, 4) * (0.02, 0.002, 0.01, 0.01)
    return FrameResult(
        meta=FrameMeta(uri=f"sim://{plate_id}/{well}/{site}/{t}", plate_id=plate_id,
                       well=well, site=site, hours=24.0 * (t + 1), timepoint_index=t),
        sha="", width=256, height=256, dtype="uint16",
        shape=_shape(rng, float(np.exp(traits[0])), float(traits[4])), quality=(Quality.OK,),
        focus=float(rng.uniform(0.5, 0.7)), n_objects=1, segmenter="sim",
        hours=24.0 * (t + 1), processed_at=_NOW,
        appearance={"contrast": float(traits[1] + noise[0]),
                    "inner_cv": float(traits[3] + noise[2]), "edge_ratio": 1.0,
                    "texture": float(traits[2] + noise[1]),
                    "dark_fraction": float(0.1 + noise[3])})


def time_protocol_rule(n_wells: int = 96, *, sites: int = 2, timepoints: int = 3,
                       seed: int = 0, rule: Any = None) -> RuleTiming:
    """Median / p90 / max milliseconds of ``rule.evaluate`` per frame over a simulated plate."""
    from edge_app.alerts.protocol import ProtocolEvidenceRule

    plate = simulated_plate(n_wells)
    rule = rule or ProtocolEvidenceRule(plate=plate)
    times, alerts = [], 0
    for result in simulated_stream(plate, sites=sites, timepoints=timepoints, seed=seed):
        expected = plate.expected(result.meta.well or "")
        started = time.perf_counter()
        alerts += len(rule.evaluate(result, expected, _NOW))
        times.append((time.perf_counter() - started) * 1e3)
    ordered = sorted(times)
    return RuleTiming(len(times), statistics.median(times),
                      ordered[int(0.9 * (len(ordered) - 1))], ordered[-1], alerts)
