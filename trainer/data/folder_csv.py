"""A lab's own images: a folder plus a CSV with a ``file`` column and one column per label.

Example ``labels.csv`` (paths relative to the CSV's folder; ``mask`` and ``split`` optional)::

    file,mask,split,cell_line,culture_medium,seeding_density,timepoint
    plate1/A1.tif,masks/A1.tif,train,HCT116,DMEMF12,2000,48

Every other non-empty column becomes a label (values kept as text). A ``timepoint`` or
``hours`` column also gives the record's ``hours``. ``split`` (train / val / test) chooses
the split; without it the trainer splits by technical replicate, else by a stable hash of
the file name (:func:`trainer.data.splits.choose_split`). Images without a mask get one
computed by a segmenter (:mod:`trainer.data.auto_masks`).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from trainer.data.records import ImageRecord

logger = logging.getLogger(__name__)

_RESERVED = ("file", "mask", "split")


class FolderCsvError(ValueError):
    """A CSV that cannot be read as a labelled image list (the message names file and row)."""


def _hours(row: dict[str, str]) -> float | None:
    for column in ("hours", "timepoint"):
        text = (row.get(column) or "").strip().lower().removesuffix("h")
        if text:
            try:
                return float(text)
            except ValueError:
                return None
    return None


def _resolve(base: Path, text: str, csv_path: Path, line: int, column: str) -> Path:
    path = (base / text.strip()).resolve() if not Path(text.strip()).is_absolute() else Path(text)
    if not path.is_file():
        raise FolderCsvError(f"{csv_path}, row {line}, column {column!r}: {text!r} not found")
    return path


def read_folder_csv(csv_path: str | Path, root: str | Path | None = None) -> list[ImageRecord]:
    """Records from a labels CSV; relative paths are resolved against ``root`` (default:
    the CSV's folder).

    Raises:
        FolderCsvError: no ``file`` column, or a listed image or mask does not exist.
    """
    csv_path = Path(csv_path)
    base = Path(root) if root is not None else csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or ()]
        if "file" not in columns:
            raise FolderCsvError(f"{csv_path}: needs a 'file' column; it has {columns}")
        label_columns = [c for c in columns if c not in _RESERVED and c != "hours"]
        records = []
        for line, raw in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
            image = _resolve(base, row["file"], csv_path, line, "file")
            mask = _resolve(base, row["mask"], csv_path, line, "mask") if row.get("mask") else None
            labels = {c: row[c] for c in label_columns if row.get(c)}
            split = row.get("split", "").lower() or None
            records.append(ImageRecord(image, mask, labels, _hours(row), split))
    logger.info("%s: %d images, labels %s", csv_path, len(records), label_columns)
    return records
