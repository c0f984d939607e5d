"""Simulate a microscope imaging a plate over time into a folder, with injected deviations.

For each time point, every well and site is rendered (the same spheroid identity across time)
and written by the chosen format's writer at ``rate`` frames per second. Timestamps inside the
files are simulated microscope time (start = ``seeded_at`` + first hour), so the bytes depend
only on the arguments; wall-clock pacing uses the injected ``clock`` and ``sleep``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from edge_app.simulation.deviations import (
    Deviation,
    apply_deviation,
    plan_deviations,
    write_ground_truth,
)
from edge_app.simulation.renderer import SpheroidRenderer, frame_shape
from edge_app.simulation.timeseries import frame_seed, identity_seed
from edge_app.simulation.writers import FrameRecord, WriterOptions, create_writer

logger = logging.getLogger(__name__)

DEFAULT_SEEDED_AT = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
_SCAN_MS_PER_POSITION = 1500.0
_WELL = re.compile(r"^\s*([A-Pa-p])\s*0*(\d{1,2})\s*$")


@dataclass(frozen=True)
class PlateSimulation:
    """What to acquire: plate, time points, sites, format, pacing, deviations, seed."""

    plate_id: str = "plate1"
    hours: Sequence[float] = (0.0, 24.0, 48.0)
    sites: int = 1
    fmt: str = "tiff"
    rate: float = 0.0
    deviations: float = 0.0
    seed: int = 0
    width: int = 512
    chunks: int = 3
    seeded_at: datetime = DEFAULT_SEEDED_AT
    kinds: tuple[str, ...] = ()  # deviation kinds to inject (default: all)


@dataclass(frozen=True)
class SimulationResult:
    """The files written (URIs in acquisition order) and the injected deviations."""

    uris: tuple[str, ...]
    deviations: tuple[Deviation, ...]
    ground_truth_csv: Path
    ground_truth_json: Path
    seconds: float = field(default=0.0, compare=False)


def _well_key(well: str) -> tuple[int, int]:
    match = _WELL.match(well)
    if match is None:
        raise ValueError(f"{well!r} is not a well name (expected A1..P24)")
    return ord(match.group(1).upper()) - ord("A"), int(match.group(2))


def simulate_plate(
    out: Path,
    wells: Mapping[str, Mapping[str, str]],
    sim: PlateSimulation = PlateSimulation(),
    *,
    renderer: SpheroidRenderer | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SimulationResult:
    """Image the plate map ``wells`` (well -> label row) into ``out`` over ``sim.hours``."""
    renderer = renderer or SpheroidRenderer()
    rows = {
        f"{chr(ord('A') + r)}{c}": renderer.vocab.row_from_mapping(labels, sim.hours[0])
        for well, labels in wells.items()
        for r, c in [_well_key(well)]
    }
    order = sorted(rows, key=_well_key)
    rng = np.random.default_rng([sim.seed, 7])
    plan = plan_deviations(sim.plate_id, rows, sim.deviations, rng, renderer.vocab, sim.kinds)
    by_well = {d.well: d for d in plan}
    seeded = {w: apply_deviation(rows[w], by_well.get(w), rng) for w in order}
    csv_path, json_path = write_ground_truth(out, plan, _details(sim, rows))
    start = sim.seeded_at + timedelta(hours=float(sim.hours[0]))
    interval = 1.0 / sim.rate if sim.rate > 0 else 0.0
    options = WriterOptions(
        f"{sim.plate_id}_acq",
        start,
        sim.chunks,
        min(0.05, interval / (2 * max(sim.chunks, 1))),
        sleep,
    )
    writer = create_writer(sim.fmt, out, options)
    uris: list[str] = []
    began = clock()
    try:
        for t, hours in enumerate(sim.hours):
            for w_index, well in enumerate(order):
                row, artefacts = seeded[well]
                row = row.with_labels(hours=float(hours))
                shape = frame_shape(row, renderer.vocab, sim.width)
                for site in range(sim.sites):
                    due = began + len(uris) * interval
                    if interval and (wait := due - clock()) > 0:
                        sleep(wait)
                    identity = identity_seed(sim.seed, sim.plate_id, well, site)
                    image = renderer.render(
                        row,
                        frame_seed(identity, t),
                        shape,
                        identity_seed=identity,
                        artefacts=artefacts,
                    )
                    position = w_index * sim.sites + site
                    elapsed = (hours - sim.hours[0]) * 3.6e6 + position * _SCAN_MS_PER_POSITION
                    uris.append(
                        writer.write(
                            FrameRecord(
                                image.image,
                                sim.plate_id,
                                well,
                                site,
                                float(hours),
                                t,
                                position,
                                elapsed,
                                image.pixel_size_um,
                            )
                        )
                    )
            logger.info("plate %s: time point %d (%g h) written", sim.plate_id, t, hours)
    finally:
        writer.close()
    return SimulationResult(tuple(uris), tuple(plan), csv_path, json_path, clock() - began)


def _details(sim: PlateSimulation, rows: Mapping[str, object]) -> dict[str, object]:
    return {
        "plate_id": sim.plate_id,
        "seed": sim.seed,
        "format": sim.fmt,
        "hours": [float(h) for h in sim.hours],
        "sites": sim.sites,
        "rate": sim.rate,
        "deviation_fraction": sim.deviations,
        "deviation_kinds": list(sim.kinds),
        "seeded_at": sim.seeded_at.isoformat(),
        "wells": sorted(rows, key=_well_key),
    }
