"""``sentinel bench alerts``: simulated plates through the real pipeline, scored strictly.

Each plate (one per seed) is a replicate-group layout of one microscope's conditions, imaged
by the plate simulator into a folder while the app watches that folder exactly as
``sentinel watch`` does: the caller passes in the live-run function (the CLI's ``run_live``),
so this tool drives the composition root itself, not a replica. The alerts in the store are
then scored against the simulator's ground truth (:mod:`edge_app.bench.scoring`), and every
label deviation gets its separability (:mod:`edge_app.bench.separability`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.bench.layouts import Layout
from edge_app.bench.scoring import PlateScore
from edge_app.bench.summary import Summary

log = logging.getLogger(__name__)

#: ``run_live(settings, db, plate, *, stop_when=..., quiet=...)`` from the CLI's watch path.
LiveRun = Callable[..., Any]


@dataclass(frozen=True)
class AlertBenchConfig:
    """What to image and how: plate layout, acquisition, deviations, alert settings."""

    plate_size: int = 96
    sites: int = 2
    hours: tuple[float, ...] = (24.0, 48.0, 72.0)
    deviations: float = 0.1
    kinds: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (9001,)
    microscope: str = "OperaPhenix"
    group_min: int = 3
    group_max: int = 12
    width: int = 512  # the demo's; at 256 px the quality rules misread small spheroids
    error_rate: float | None = None
    fdr: float | None = None
    separability_n: int = 1000
    separability_cache: Path | None = None
    rate: float = 0.0
    settle_s: float = 0.2


@dataclass(frozen=True)
class PlateRun:
    """One plate of a bench run: its layout, strict score and how long it took."""

    seed: int
    layout: Layout
    score: PlateScore
    seconds: float
    frames_per_s: float = field(default=0.0)


def vocabulary(config: AlertBenchConfig) -> Any:
    """The renderer's vocabulary: the default one, plus the unseen microscope when asked."""
    from edge_app.bench.layouts import UNSEEN_MICROSCOPE, with_unseen_microscope
    from edge_app.simulation import Vocabulary

    vocab = Vocabulary.default()
    return with_unseen_microscope(vocab) if config.microscope == UNSEEN_MICROSCOPE else vocab


def alert_settings(config: AlertBenchConfig, folder: Path, *, once: bool = False) -> Any:
    """Settings of a watch run on ``folder`` with the bench's alert overrides."""
    from edge_app.settings import AlertSettings, load_settings

    alerts: dict[str, Any] = {}
    if len(config.hours) < AlertSettings.model_fields["persist_frames"].default:
        alerts["persist_frames"] = len(config.hours)  # as a lab imaging once would set it
    if config.error_rate is not None:
        alerts["error_rate"] = config.error_rate
    if config.fdr is not None:
        if "false_discovery_rate" not in AlertSettings.model_fields:
            raise ValueError("--fdr: this build's settings have no alerts.false_discovery_rate")
        alerts["false_discovery_rate"] = config.fdr
    return load_settings(None, source={"folder": folder, "settle_s": config.settle_s,
                                       "name_pattern": "plate-well-site-time", "once": once},
                         alerts=alerts)


def plate_layout(config: AlertBenchConfig, seed: int) -> Layout:
    from edge_app.bench.layouts import plate_wells, replicate_layout

    rng = np.random.default_rng([seed, 11])
    return replicate_layout(plate_wells(config.plate_size), vocabulary(config),
                            config.microscope, rng, config.group_min, config.group_max)


def run_plate(config: AlertBenchConfig, seed: int, workdir: Path, run_live: LiveRun) -> PlateRun:
    """Image one plate into ``workdir`` while the app watches it; score the store."""
    from edge_app.bench.acquisition import SimulatedAcquisition
    from edge_app.bench.layouts import write_plate_map
    from edge_app.bench.scoring import score_database
    from edge_app.core.plate import load_plate_protocol
    from edge_app.simulation import PlateSimulation, SpheroidRenderer

    plate_id = f"seed{seed}"
    folder = workdir / plate_id / "acquisition"
    folder.mkdir(parents=True, exist_ok=True)
    layout = plate_layout(config, seed)
    sim = PlateSimulation(plate_id=plate_id, hours=config.hours, sites=config.sites,
                          fmt="tiff", rate=config.rate, deviations=config.deviations,
                          seed=seed, width=config.width, kinds=config.kinds)
    plate_csv = write_plate_map(workdir / plate_id / "plate.csv", layout.wells,
                                sim.seeded_at.isoformat())
    plate = load_plate_protocol(plate_csv, plate_id=plate_id)
    acquisition = SimulatedAcquisition(folder, layout.wells, sim,
                                       SpheroidRenderer(vocabulary(config)))
    db = workdir / plate_id / "bench.sqlite"
    began = time.monotonic()
    acquisition.start()
    run_live(alert_settings(config, folder), db, plate, stop_when=acquisition.done, quiet=True)
    acquisition.join(30)
    seconds = time.monotonic() - began
    score = score_database(db, acquisition.result.deviations, plate_id, list(layout.wells))
    log.info("plate %s: %d frames in %.1f s", plate_id, score.well_frames, seconds)
    return PlateRun(seed, layout, score, seconds, score.well_frames / max(seconds, 1e-9))


def separabilities(config: AlertBenchConfig, runs: Sequence[PlateRun]
                   ) -> dict[tuple[str, str], float]:
    """(plate, well) -> separability of each label deviation (none when turned off)."""
    from edge_app.bench.separability import ConditionPair, SeparabilityCache

    if config.separability_n <= 0:
        return {}
    cache = SeparabilityCache(config.separability_cache, config.separability_n, seed=7301)
    out = {}
    for run in runs:
        for outcome in run.score.outcomes:
            dev = outcome.deviation
            if not dev.label:
                continue
            labels = {k: v for k, v in run.layout.wells[dev.well].items()
                      if k not in ("biological_rep", "technical_rep")}
            pair = ConditionPair.of(labels, dev.label, dev.actual, config.hours, config.width)
            out[(dev.plate_id, dev.well)] = cache.get(pair)
    return out


def run_bench(config: AlertBenchConfig, workdir: Path, run_live: LiveRun
              ) -> tuple[Summary, list[PlateRun]]:
    """Every seed's plate through the pipeline, then separability, then the summary."""
    from edge_app.bench.summary import summarise

    runs = [run_plate(config, seed, workdir, run_live) for seed in config.seeds]
    summary = summarise([r.score for r in runs], separabilities(config, runs))
    nominal = alert_settings(config, workdir).alerts.model_dump(mode="json")
    return replace(summary, nominal=nominal), runs
