"""A 48-well plate of real images from other labs (``shared/data/real``), with swapped wells.

Four replicate groups of 12 wells, two frames (sites) per well, one per real source:

* ``A`` cparent3 bright-field spheroid crops (uint16);
* ``B`` GOAT intestinal organoids (field 291), one organoid per crop, cut around the least
  crowded of the largest annotated instances;
* ``C`` GOAT hepatic, lung and kidney organoids (fields 301, 545, 731), cut the same way;
* ``D`` the jointforces MCF7 spheroid time-lapse, shifted crops around the spheroid.

The plate map gives each group a cell line from the engine vocabulary (stand-ins, except MCF7
for D: none of these sources is SLiMIA data) and the same other labels. Four wells show
another group's images, as two swaps between visibly different sources (A<->D, B<->A); their
ground truth is a ``swapped_cell_line`` deviation. Frames are written as TIFFs named
``real_<well>_s<site>_t24h.tif`` and read in place from the source folder, never copied into
the repository.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.simulation.deviations import Deviation

log = logging.getLogger(__name__)

PLATE_ID = "real"
GROUPS = ("A", "B", "C", "D")
#: Group -> the plate map's cell line (stand-ins; D really is MCF7).
CELL_LINES = {"A": "A549", "B": "HCT116", "C": "HEPG2", "D": "MCF7"}
COMMON = {"culture_medium": "DMEMHG", "formation_method": "LiquidOverlay-ULA",
          "seeding_density": "5000", "microscope": "Cytation5", "magnification": "10X"}
WELLS_PER_GROUP, SITES = 12, 2
#: (group of the well, index in its group) -> the group whose images it shows.
SWAPS = {("A", 3): "D", ("D", 8): "A", ("B", 5): "A", ("A", 9): "B"}
_GOAT_B, _GOAT_C = ("goat_291",), ("goat_301", "goat_545", "goat_731")


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def _read(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return _gray(image)


def _crops(root: Path, n: int) -> Iterator[np.ndarray]:
    folder = root / "cparent3_spheroid_crops"
    with (folder / "index.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:n]:
        yield _read(folder / row["filename"])


def _organoids(root: Path, fields: tuple[str, ...], n: int) -> list[np.ndarray]:
    """Crops around ``n`` organoids of ``fields`` (round robin), the least crowded first.

    Candidates are each field's 60 largest annotated organoids whose crop (a square 1.6 times
    the organoid's extent) lies inside the field and is less than 15% covered by other
    organoids, else the ``n`` least crowded (one organoid per frame, as on a spheroid plate,
    as far as the field allows); the sharpest are taken (GOAT also annotates organoids out of
    the focal plane).
    """
    folder = root / "goat_organoids"
    per_field = []
    for name in fields:
        image = _read(folder / "images" / f"{name}.png")
        labels = _read(folder / "masks_instance" / f"{name}.png")
        ids, counts = np.unique(labels[labels > 0], return_counts=True)
        biggest = [int(k) for k in ids[np.argsort(counts)[::-1]][:60]]
        inside = [k for k in biggest if _inside(labels == k)]
        inside = inside if len(inside) >= n else biggest
        crowding = {k: _crowding(labels, k) for k in inside}
        calm = [k for k in sorted(inside, key=crowding.__getitem__) if crowding[k] < 0.15]
        calm = calm if len(calm) >= n else sorted(inside, key=crowding.__getitem__)[:n]
        crops = sorted((_box(image, labels == k) for k in calm), key=_sharpness, reverse=True)
        per_field.append(crops[:n])
    mixed = [c for group in zip(*per_field, strict=False) for c in group]
    if len(mixed) < n:
        raise ValueError(f"GOAT fields {fields} give {len(mixed)} organoid crops, need {n}")
    return mixed[:n]


def _square(mask: np.ndarray) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    half = max(48, int(0.8 * max(ys.max() - ys.min(), xs.max() - xs.min())))
    return slice(max(0, cy - half), cy + half), slice(max(0, cx - half), cx + half)


def _inside(mask: np.ndarray) -> bool:
    rows, cols = _square(mask)
    return bool(rows.start > 0 and cols.start > 0 and rows.stop <= mask.shape[0]
                and cols.stop <= mask.shape[1])


def _sharpness(crop: np.ndarray) -> float:
    import cv2

    pixels = crop.astype(np.float32)
    return float(cv2.Laplacian(pixels, cv2.CV_32F).var() / (pixels.mean() ** 2 + 1e-9))


def _crowding(labels: np.ndarray, k: int) -> float:
    window = labels[_square(labels == k)]
    return float(((window > 0) & (window != k)).mean())


def _box(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return image[_square(mask)].copy()


def _timelapse(root: Path, n: int) -> Iterator[np.ndarray]:
    folder = root / "jointforces_mcf7_timelapse"
    with (folder / "labels.csv").open(newline="") as handle:
        frames = [folder / r["filename"] for r in csv.DictReader(handle)]
    for i in range(n):
        image = _read(frames[i % len(frames)])
        dy, dx = (i * 7) % 11 - 5, (i * 5) % 13 - 6
        h, w = image.shape
        side = min(h, w) // 2 + 40  # the spheroid and a margin of collagen around it
        y0, x0 = (h - side) // 2 + dy, (w - side) // 2 + dx
        yield image[y0:y0 + side, x0:x0 + side].copy()


def group_images(root: Path) -> dict[str, list[np.ndarray]]:
    """Group -> ``WELLS_PER_GROUP * SITES`` real images (see the module docstring)."""
    n = WELLS_PER_GROUP * SITES
    return {"A": list(_crops(root, n)), "B": _organoids(root, _GOAT_B, n),
            "C": _organoids(root, _GOAT_C, n), "D": list(_timelapse(root, n))}


def build_real_plate(root: Path, folder: Path) -> tuple[dict[str, dict[str, str]],
                                                        list[Deviation]]:
    """Write the plate's frames into ``folder``; return the plate map and the swaps."""
    import tifffile

    from edge_app.bench.layouts import plate_wells

    images = group_images(root)
    wells = plate_wells(48)
    plate_map: dict[str, dict[str, str]] = {}
    truth = []
    folder.mkdir(parents=True, exist_ok=True)
    for g, group in enumerate(GROUPS):
        for i in range(WELLS_PER_GROUP):
            well = wells[g * WELLS_PER_GROUP + i]
            plate_map[well] = {"cell_line": CELL_LINES[group], **COMMON,
                               "biological_rep": "B1", "technical_rep": f"T{i + 1}"}
            shown = SWAPS.get((group, i), group)
            if shown != group:
                truth.append(Deviation(PLATE_ID, well, "swapped_cell_line", "cell_line",
                                       CELL_LINES[group], CELL_LINES[shown]))
            for site in range(SITES):
                image = images[shown][i * SITES + site]
                tifffile.imwrite(folder / f"{PLATE_ID}_{well}_s{site}_t24h.tif", image)
    return plate_map, truth


def run_real_plate(root: Path, workdir: Path, run_live: Any, config: Any) -> tuple[Any, Any]:
    """The real plate through watch's pipeline (``--once``), scored strictly."""
    from edge_app.bench.alert_bench import alert_settings
    from edge_app.bench.layouts import write_plate_map
    from edge_app.bench.scoring import score_database
    from edge_app.bench.summary import summarise
    from edge_app.core.plate import load_plate_protocol
    from edge_app.simulation.plate_sim import DEFAULT_SEEDED_AT

    if not (root / "cparent3_spheroid_crops").is_dir():
        raise FileNotFoundError(f"{root} holds no real-image sources (cparent3_spheroid_crops, "
                                "goat_organoids, jointforces_mcf7_timelapse)")
    folder = workdir / "real" / "acquisition"
    plate_map, truth = build_real_plate(root, folder)
    plate_csv = write_plate_map(workdir / "real" / "plate.csv", plate_map,
                                DEFAULT_SEEDED_AT.isoformat())
    plate = load_plate_protocol(plate_csv, plate_id=PLATE_ID)
    db = workdir / "real" / "real.sqlite"
    config = replace(config, hours=(24.0,))  # imaged once: every time point counts alone
    run_live(alert_settings(config, folder, once=True), db, plate, quiet=True)
    score = score_database(db, truth, PLATE_ID, list(plate_map))
    nominal = alert_settings(config, folder).alerts.model_dump(mode="json")
    return replace(summarise([score]), nominal=nominal), score
