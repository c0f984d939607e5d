"""The demo: a simulated plate acquisition written into a folder while ``watch`` runs on it.

A small plate (12 wells, 3 time points) is imaged by the synthetic plate simulator into a
temporary folder at a few frames per second, with deviations injected into some wells (one of
them empty). The folder source picks the frames up as they land; the run ends when every
frame written is in the store, and the summary compares the alerts with the ground truth.
"""

from __future__ import annotations

import csv
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEMO_WELLS = [f"{row}{col}" for row in "AB" for col in range(1, 7)]
# A protocol the microscope in question really runs (the atlas keeps SLiMIA's confounding:
# each microscope images its own cell lines and media), so the shipped engines know it.
DEMO_LABELS = {
    "cell_line": "HCT116", "culture_medium": "RPMI", "seeding_density": "2000",
    "formation_method": "LiquidOverlay-ULA", "microscope": "OperaPhenix",
    "magnification": "10X", "biological_rep": "B1", "technical_rep": "T1",
}
QUALITY_KINDS = {"empty_well": "no_spheroid", "out_of_focus": "out_of_focus",
                 "debris": "several_objects"}


@dataclass(frozen=True)
class DemoPlan:
    """What the demo images: wells, time points, pacing and how many wells deviate."""

    wells: tuple[str, ...] = tuple(DEMO_WELLS)
    hours: tuple[float, ...] = (24.0, 48.0, 72.0, 96.0)
    rate: float = 6.0
    deviating_wells: int = 7  # one of each deviation kind, so one well is empty
    width: int = 512
    seed: int = 7
    plate_id: str = "demo"


def write_plate_map(path: Path, plan: DemoPlan, seeded_at: str) -> Path:
    """The plate map the lab would have written: every well seeded the same way."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["well", *DEMO_LABELS, "seeded_at"])
        for well in plan.wells:
            writer.writerow([well, *DEMO_LABELS.values(), seeded_at])
    return path


class SimulatedAcquisition:
    """Runs the plate simulator on a thread; ``finished`` and ``uris`` tell what it wrote."""

    def __init__(self, folder: Path, plan: DemoPlan) -> None:
        from edge_app.simulation.plate_sim import PlateSimulation

        self.folder, self.plan = folder, plan
        self.sim = PlateSimulation(
            plate_id=plan.plate_id, hours=plan.hours, sites=1, fmt="tiff", rate=plan.rate,
            deviations=plan.deviating_wells / len(plan.wells), seed=plan.seed, width=plan.width,
        )
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-microscope", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from edge_app.simulation.plate_sim import simulate_plate

        try:
            self.result = simulate_plate(self.folder, {w: DEMO_LABELS for w in self.plan.wells},
                                         self.sim)
        except BaseException as exc:  # reported by the caller; the watcher must still stop
            self.error = exc
        finally:
            self.finished.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def score_alerts(alerts: list[dict[str, Any]], deviations: tuple[Any, ...]) -> list[str]:
    """Lines comparing injected deviations with the alerts the run raised.

    A quality deviation counts as caught when its well raised any quality alert (a badly
    defocused spheroid may vanish and read as 'no spheroid'); a protocol deviation when its
    well raised a protocol alert on the deviating label. Alerts in wells with no deviation
    are listed: they are false alarms.
    """
    lines = []
    for dev in deviations:
        here = [a for a in alerts if a["well"] == dev.well]
        if dev.kind in QUALITY_KINDS:
            seen = sorted({a["observed"] for a in here if a["kind"] == "quality"})
            verdict = (f"caught ({', '.join(seen)})" if seen
                       else f"missed (expected {QUALITY_KINDS[dev.kind]})")
        else:
            hits = [a for a in here if a["kind"] == "protocol" and a["label"] == dev.label]
            verdict = (f"caught ({dev.label}: {hits[0]['observed']} vs {dev.expected})" if hits
                       else f"missed (no {dev.label} alert; {dev.expected} -> {dev.actual})")
        lines.append(f"{dev.well:>4}  {dev.kind:<24} {verdict}")
    deviating = {d.well for d in deviations}
    false = sorted({(a["well"], a["kind"], a["label"] or a["observed"]) for a in alerts
                    if a["well"] not in deviating})
    for well, kind, what in false:
        lines.append(f"{well:>4}  no deviation             false alarm ({kind}: {what})")
    return lines
