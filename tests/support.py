"""Test helpers shared by every package's tests: drawn spheroid frames and plate maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_app.core.frames import Frame, FrameMeta

LABEL_HEADER = ("well,cell_line,culture_medium,seeding_density,formation_method,microscope,"
                "magnification,biological_rep,technical_rep,seeded_at")


def drawn_spheroid(size: int = 256, radius: float = 50.0, *, seed: int = 0,
                   dtype: type = np.uint16, empty: bool = False) -> np.ndarray:
    """A dark, slightly textured disc on an uneven bright background, with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    background = 0.8 + 0.05 * (xx / size) - 0.03 * (yy / size)
    image = background + rng.normal(0, 0.01, (size, size)).astype(np.float32)
    if not empty:
        cy, cx = size / 2 + rng.uniform(-5, 5), size / 2 + rng.uniform(-5, 5)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        image[inside] = 0.35 + rng.normal(0, 0.03, int(inside.sum()))
    top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
    return (np.clip(image, 0, 1) * top * (0.25 if dtype == np.uint16 else 1.0)).astype(dtype)


def make_frame(well: str, *, site: int = 0, hours: float = 24.0, seed: int = 0,
               empty: bool = False, plate_id: str = "P1", uri: str | None = None) -> Frame:
    meta = FrameMeta(uri=uri or f"mem://{plate_id}/{well}/s{site}/t{hours:g}", plate_id=plate_id,
                     well=well, site=site, hours=hours)
    return Frame(drawn_spheroid(seed=seed, empty=empty), meta)


def write_plate_csv(path: Path, wells: list[str], *, cell_line: str = "HCT116") -> Path:
    rows = [LABEL_HEADER] + [
        f"{w},{cell_line},DMEMF12,2000,LiquidOverlay-ULA,OperaPhenix,10X,B1,T1,"
        "2026-11-28T08:00:00+00:00"
        for w in wells
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
