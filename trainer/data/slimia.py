"""Read a SLiMIA-layout folder (the real dataset or a synthetic atlas) into image records.

File names carry the labels (``reference/slimia.md``)::

    {CellLine}_{Medium}_{FormationMethod}_{N}cells_{T}h_B{b}_T{t}_{Mag}X.ome.tiff

The microscope is the top-level folder under the root; masks sit under
``<Microscope>/Manual segmentations/<cell-line folder>/<stem>.tiff``. Tolerated quirks:
unpadded hours (``72h`` and ``082h``), ``10x``/``10X``, ``.ome.tif``, missing masks (the
record's ``mask`` is ``None``). Names that do not follow the grammar are listed, not guessed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from trainer.data.records import ImageRecord

logger = logging.getLogger(__name__)

MASK_FOLDER = "Manual segmentations"
_NAME = re.compile(
    r"^(?P<cell_line>.+)_(?P<culture_medium>[^_]+)_(?P<formation_method>[^_]+)_"
    r"(?P<seeding_density>\d+)cells_(?P<hours>\d+(?:\.\d+)?)h_B(?P<biological_rep>\d+)_"
    r"T(?P<technical_rep>\d+)_(?P<magnification>\d+(?:\.\d+)?)[xX]"
    r"\.ome\.tiff?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SlimiaIndex:
    """The parsed records and the image files whose names do not follow the grammar."""

    records: tuple[ImageRecord, ...]
    unparsed: tuple[Path, ...]

    @property
    def missing_masks(self) -> int:
        return sum(r.mask is None for r in self.records)


def image_stem(name: str) -> str:
    """``X.ome.tiff`` / ``X.ome.tif`` / ``X.tiff`` -> ``X``."""
    return re.sub(r"(\.ome)?\.tiff?$", "", name, flags=re.IGNORECASE)


def parse_slimia_name(name: str) -> tuple[dict[str, str], float] | None:
    """Labels (without the microscope) and hours of a SLiMIA file name, or ``None``.

    Example: ``MCF10A_DMEMF12-BME_LiquidOverlay-ULA_3000cells_082h_B1_T5_10x.ome.tiff`` ->
    ``({"cell_line": "MCF10A", ..., "timepoint": "82", "magnification": "10X"}, 82.0)``.
    """
    match = _NAME.match(name)
    if match is None:
        return None
    hours = float(match["hours"])
    labels = {
        "cell_line": match["cell_line"],
        "culture_medium": match["culture_medium"],
        "formation_method": match["formation_method"],
        "seeding_density": str(int(match["seeding_density"])),
        "timepoint": f"{hours:g}",
        "biological_rep": f"B{int(match['biological_rep'])}",
        "technical_rep": f"T{int(match['technical_rep'])}",
        "magnification": f"{float(match['magnification']):g}X",
    }
    return labels, hours


def _mask_index(microscope_dir: Path) -> dict[str, Path]:
    """Mask stem -> path, for every mask under the microscope's ``Manual segmentations``."""
    folder = microscope_dir / MASK_FOLDER
    if not folder.is_dir():
        return {}
    return {
        image_stem(p.name): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix.lower() in (".tif", ".tiff")
    }


def _microscope_images(microscope_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in microscope_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in (".tif", ".tiff")
        and MASK_FOLDER not in p.relative_to(microscope_dir).parts
    )


def read_slimia(root: str | Path) -> SlimiaIndex:
    """Index every image under ``root`` (one sub-folder per microscope), sorted by path.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder; give the folder holding one "
                                "sub-folder per microscope (SLiMIA layout)")
    records: list[ImageRecord] = []
    unparsed: list[Path] = []
    for microscope_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        masks = _mask_index(microscope_dir)
        for path in _microscope_images(microscope_dir):
            parsed = parse_slimia_name(path.name)
            if parsed is None:
                unparsed.append(path)
                continue
            labels, hours = parsed
            labels = {"microscope": microscope_dir.name, **labels}
            records.append(ImageRecord(path, masks.get(image_stem(path.name)), labels, hours))
    index = SlimiaIndex(tuple(records), tuple(unparsed))
    logger.info("SLiMIA %s: %d images, %d without mask, %d names not in the grammar",
                root, len(records), index.missing_masks, len(unparsed))
    return index
