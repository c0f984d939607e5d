"""Plate plans: wells x sites x time points -> stage positions, useq MDA and pycromanager events.

Position labels follow Micro-Manager's HCS Site Generator (``A1-Site_0``), so every source
parses them with :func:`edge_app.sources.naming.parse_position_name`. Stage coordinates use
SBS plate geometry: 96-well plates have a 9 mm pitch with A1 centred at (14.38, 11.24) mm,
384-well plates a 4.5 mm pitch with A1 at (12.13, 8.99) mm; sites sit on a small grid
around the well centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from edge_app.core.wells import normalise_well, plate_wells, well_index


@dataclass(frozen=True)
class PlateGeometry:
    """Where wells are on the XY stage (micrometres), and how far apart sites are."""

    n_wells: int
    pitch_um: float
    a1_um: tuple[float, float]

    @property
    def site_spacing_um(self) -> float:
        return self.pitch_um / 6.0

    def well_centre(self, well: str) -> tuple[float, float]:
        row, col = well_index(well)
        return self.a1_um[0] + col * self.pitch_um, self.a1_um[1] + row * self.pitch_um

    def site_offset(self, site: int, sites: int) -> tuple[float, float]:
        """Offset of ``site`` on a square grid of ``sites`` centred on the well."""
        side = max(1, math.ceil(math.sqrt(sites)))
        row, col = divmod(site, side)
        rows = math.ceil(sites / side)
        step = self.site_spacing_um
        return (col - (side - 1) / 2) * step, (row - (rows - 1) / 2) * step

    def locate(self, x_um: float, y_um: float, sites: int = 1) -> tuple[str, int] | None:
        """The (well, site) under the objective at ``(x_um, y_um)``, or ``None`` off the plate."""
        col = round((x_um - self.a1_um[0]) / self.pitch_um)
        row = round((y_um - self.a1_um[1]) / self.pitch_um)
        wells = plate_wells(self.n_wells)
        n_cols = 12 if self.n_wells == 96 else 24
        if not (0 <= col < n_cols and 0 <= row < len(wells) // n_cols):
            return None
        well = wells[row * n_cols + col]
        cx, cy = self.well_centre(well)
        dists = [
            math.dist((x_um - cx, y_um - cy), self.site_offset(s, sites)) for s in range(sites)
        ]
        return well, int(min(range(sites), key=dists.__getitem__))


PLATE_GEOMETRIES: dict[int, PlateGeometry] = {
    96: PlateGeometry(96, 9000.0, (14380.0, 11240.0)),
    384: PlateGeometry(384, 4500.0, (12130.0, 8990.0)),
}


def plate_geometry(n_wells: int) -> PlateGeometry:
    """The SBS geometry of a 96- or 384-well plate; other sizes raise listing the valid ones."""
    if n_wells not in PLATE_GEOMETRIES:
        raise ValueError(f"unsupported plate size {n_wells}; valid: {sorted(PLATE_GEOMETRIES)}")
    return PLATE_GEOMETRIES[n_wells]


@dataclass(frozen=True)
class PlatePosition:
    """One stage position of the plan: well, site, its label and where it is."""

    well: str
    site: int
    label: str
    x_um: float
    y_um: float


@dataclass(frozen=True)
class PlatePlan:
    """What to image: wells x sites, ``timepoints`` times, ``interval_s`` apart.

    ``hours`` (one per time point) is the simulated hours since seeding of each time point
    (the virtual microscope's time-lapse); ``None`` for real acquisitions, whose hours come
    from the acquisition time and the plate map's ``seeded_at``.
    """

    wells: tuple[str, ...]
    sites: int = 1
    timepoints: int = 1
    interval_s: float = 0.0
    hours: tuple[float, ...] | None = None
    geometry: PlateGeometry = PLATE_GEOMETRIES[96]

    def __post_init__(self) -> None:
        object.__setattr__(self, "wells", tuple(normalise_well(w) for w in self.wells))
        if not self.wells or self.sites < 1 or self.timepoints < 1:
            raise ValueError("a plate plan needs at least one well, site and time point")
        if self.hours is not None and len(self.hours) != self.timepoints:
            raise ValueError(f"{len(self.hours)} hours given for {self.timepoints} time points")

    @property
    def n_frames(self) -> int:
        return len(self.wells) * self.sites * self.timepoints

    def positions(self) -> list[PlatePosition]:
        """Stage positions in acquisition order (well by well, sites within a well)."""
        out = []
        for well in self.wells:
            cx, cy = self.geometry.well_centre(well)
            for site in range(self.sites):
                dx, dy = self.geometry.site_offset(site, self.sites)
                out.append(PlatePosition(well, site, f"{well}-Site_{site}", cx + dx, cy + dy))
        return out

    def hours_at(self, timepoint: int) -> float | None:
        """Simulated hours since seeding of ``timepoint``, or ``None`` for real time."""
        if self.hours is None or not 0 <= timepoint < len(self.hours):
            return None
        return float(self.hours[timepoint])

    def expected(self) -> list[tuple[str, int]]:
        """Every (position label, time point) the acquisition should deliver."""
        return [(p.label, t) for t in range(self.timepoints) for p in self.positions()]

    def to_mda_sequence(self) -> Any:
        """The plan as a ``useq.MDASequence`` (time points outermost, then positions)."""
        import useq

        return useq.MDASequence(
            stage_positions=tuple(
                useq.Position(x=p.x_um, y=p.y_um, name=p.label) for p in self.positions()
            ),
            time_plan=useq.TIntervalLoops(
                interval=timedelta(seconds=self.interval_s), loops=self.timepoints),
            axis_order=tuple("tpcz"),
        )

    def to_pycromanager_events(self) -> list[dict[str, Any]]:
        """The plan as pycromanager acquisition events (``axes`` time and position label)."""
        events = []
        for t in range(self.timepoints):
            for p in self.positions():
                event: dict[str, Any] = {
                    "axes": {"time": t, "position": p.label}, "x": p.x_um, "y": p.y_um,
                }
                if self.interval_s > 0:
                    event["min_start_time"] = t * self.interval_s
                events.append(event)
        return events


def mapped_wells(plate: Any | None) -> tuple[str, ...]:
    """The wells a plate map lists, row by row (what to image by default); empty without one."""
    if plate is None:
        return ()
    return tuple(sorted((normalise_well(w) for w in plate.wells), key=well_index))


def make_plate_plan(
    plate_size: int = 96,
    *,
    wells: Sequence[str] = (),
    sites: int = 1,
    timepoints: int = 1,
    interval_s: float = 0.0,
    hours: Sequence[float] | None = None,
) -> PlatePlan:
    """A plan over ``wells`` (default: every well of the plate) of a 96- or 384-well plate."""
    geometry = plate_geometry(plate_size)
    return PlatePlan(
        wells=tuple(wells) or tuple(plate_wells(plate_size)), sites=sites,
        timepoints=timepoints, interval_s=interval_s,
        hours=tuple(float(h) for h in hours) if hours is not None else None, geometry=geometry,
    )
