"""The demo: a simulated plate acquisition written into a folder while ``watch`` runs on it.

A 24-well plate in replicate groups (4 conditions x 6 wells, 3 time points) is imaged by the
synthetic plate simulator into a temporary folder at a few frames per second, with deviations
injected into some wells (one of each kind). The folder source picks the frames up as they
land; the run ends when every frame written is in the store, and the strict scorer
(:mod:`edge_app.bench.scoring`) compares the alerts with the ground truth: recall per
deviation kind, false alerts per clean well and per well-frame.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_app.bench.acquisition import SimulatedAcquisition as _Acquisition
from edge_app.bench.layouts import Layout, plate_wells, replicate_layout
from edge_app.bench.layouts import write_plate_map as _write_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoPlan:
    """What the demo images: wells in replicate groups, time points, pacing, deviations."""

    plate_size: int = 24
    group_size: int = 6
    # A microscope whose protocols the shipped engines were trained on (the atlas keeps
    # SLiMIA's confounding: each microscope images its own cell lines and media).
    microscope: str = "OperaPhenix"
    hours: tuple[float, ...] = (24.0, 48.0, 72.0)
    rate: float = 6.0
    deviating_wells: int = 7  # one of each deviation kind, so one well is empty
    width: int = 512
    seed: int = 7
    plate_id: str = "demo"

    @property
    def wells(self) -> tuple[str, ...]:
        return tuple(plate_wells(self.plate_size))


def demo_layout(plan: DemoPlan) -> Layout:
    """The plate map's replicate groups: ``group_size`` neighbouring wells per condition."""
    import numpy as np

    from edge_app.simulation import Vocabulary

    return replicate_layout(list(plan.wells), Vocabulary.default(), plan.microscope,
                            np.random.default_rng([plan.seed, 3]), plan.group_size,
                            plan.group_size, magnification="10X")


def write_plate_map(path: Path, plan: DemoPlan, seeded_at: str) -> Path:
    """The plate map the lab would have written: one condition per replicate group."""
    return _write_map(path, demo_layout(plan).wells, seeded_at)


class SimulatedAcquisition(_Acquisition):
    """The demo plate imaged on a thread; ``finished``, ``result`` and ``error`` report."""

    def __init__(self, folder: Path, plan: DemoPlan) -> None:
        from edge_app.simulation.plate_sim import PlateSimulation

        sim = PlateSimulation(
            plate_id=plan.plate_id, hours=plan.hours, sites=1, fmt="tiff", rate=plan.rate,
            deviations=plan.deviating_wells / len(plan.wells), seed=plan.seed, width=plan.width,
        )
        super().__init__(folder, demo_layout(plan).wells, sim)
        self.plan = plan


def _verdict(outcome: Any, false: Sequence[Any]) -> str:
    dev = outcome.deviation
    what = f"{dev.label}: {dev.expected} -> {dev.actual}" if dev.label else dev.kind
    extra = f"; {len(false)} other alert(s) here" if false else ""
    if outcome.caught:
        return f"caught after {outcome.frames_to_alert} frame(s) ({what}){extra}"
    return f"missed ({what}){extra}"


def score_demo(
    db: Path, deviations: Sequence[Any], plan: DemoPlan,
    min_recall: Mapping[str, float] | None = None, max_false_rate: float | None = None,
) -> tuple[str, list[str]]:
    """The strict report of a demo run, and the thresholds it misses (empty: all met).

    ``max_false_rate`` bounds the false (protocol + quality) alerts per clean well.
    """
    from edge_app.bench.scoring import score_database
    from edge_app.bench.summary import failed_thresholds, markdown, summarise

    score = score_database(db, deviations, plan.plate_id, plan.wells)
    lines = ["Injected deviations (ground truth) vs alerts, strictly (well, kind, label, value):"]
    for outcome in score.outcomes:
        here = [a for a in score.false_alerts if a.well == outcome.deviation.well]
        lines.append(f"  {outcome.deviation.well:>4}  {outcome.deviation.kind:<24} "
                     f"{_verdict(outcome, here)}")
    for alert in score.false_alerts:
        if alert.well in score.clean_wells:
            what = f"{alert.label}: {alert.observed}" if alert.label else alert.observed
            lines.append(f"  {alert.well:>4}  no deviation             false alert "
                         f"({alert.kind}: {what})")
    summary = summarise([score])
    lines += ["", markdown(summary)]
    return "\n".join(lines), failed_thresholds(summary, min_recall,
                                               max_false_rate=max_false_rate)
