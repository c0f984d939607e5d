"""Paper-layout tables (Tables 1, 2, 4, 6, 7) from run folders' ``metrics.json``.

``metrics.json`` (schema 1), written by the training loop into each run folder with
:func:`write_metrics`::

    {
      "schema_version": 1,
      "task": "segmentation" | "ipp" | "nextframe",
      "model": "U-Net++",                # display name (default: architecture)
      "architecture": "unetplusplus",
      "variant": null,                    # IPP ablations: full | image-only | shape-only |
                                          #   no-fusion | no-transformer (Table 7)
      "split": "test", "n": 812,          # evaluated set and its size
      "inference_time_s": 12.3,           # seconds to predict the whole evaluated set
      "summary": {"dice": {"mean": 0.95, "ci95": 0.002, "n": 812}, ...},
      "per_label": {"cell_line": {"accuracy": {...}, "precision": {...},
                                  "recall": {...}, "f1": {...}}, ...},      # IPP only
      "baselines": {"copy_last": {"mse": .., "ssim": .., "psnr": ..}}        # optional
    }

A metric is a number or ``{"mean", "ci95"[, "n"]}``. Summary keys: segmentation ``dice, iou,
accuracy, precision, recall, f1``; IPP ``accuracy, precision, recall, f1`` (macro per label,
averaged over labels); next frame ``mse, ssim, psnr``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
METRICS_FILE = "metrics.json"
TASKS = ("segmentation", "ipp", "nextframe")
#: Paper Table 6 (best F1 per label and its model), in the paper's row order.
PAPER_BEST_F1 = {
    "cell_line": (0.9944, "ImageShapeFusionTransformer"),
    "culture_medium": (0.9642, "ViT"),
    "seeding_density": (0.9302, "CoAtNet"),
    "timepoint": (0.8331, "ConvNeXt"),
    "biological_rep": (0.9583, "ConvNeXt"),
    "technical_rep": (0.5668, "CoAtNet"),
    "magnification": (0.9997, "CoAtNet"),
    "microscope": (1.0000, "ImageShapeFusionTransformer"),
    "formation_method": (0.9949, "ConvNeXt"),
}
VARIANTS = {
    "full": "Full Model (Image + Shape + Transformer Fusion)",
    "image-only": "Image-Only",
    "no-transformer": "No-Transformer",
    "no-fusion": "No-Fusion",
    "shape-only": "Shape-Only",
}

Cell = float | tuple[float, float] | str | None


class ReportError(ValueError):
    """A run folder whose metrics cannot be read (the message names the file)."""


@dataclass(frozen=True)
class RunMetrics:
    """One run's ``metrics.json``."""

    path: Path
    task: str
    model: str
    summary: Mapping[str, Any] = field(hash=False)
    per_label: Mapping[str, Mapping[str, Any]] = field(hash=False, default_factory=dict)
    variant: str | None = None
    inference_time_s: float | None = None
    baselines: Mapping[str, Mapping[str, Any]] = field(hash=False, default_factory=dict)


def write_metrics(folder: str | Path, task: str, model: str, summary: Mapping[str, Any],
                  **extra: Any) -> Path:
    """Write ``metrics.json`` (schema above); ``extra`` adds ``per_label``, ``variant``, ...

    Values may be numbers, mappings or objects with ``as_dict()`` (e.g. metrics.Interval).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")

    def plain(value: Any) -> Any:
        if hasattr(value, "as_dict"):
            return value.as_dict()
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        return value

    body = {"schema_version": SCHEMA_VERSION, "task": task, "model": model,
            "summary": plain(summary), **{k: plain(v) for k, v in extra.items()}}
    path = Path(folder) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path


def load_run(path: str | Path) -> RunMetrics:
    """Read a run folder (or its ``metrics.json`` directly)."""
    file = Path(path)
    file = file / METRICS_FILE if file.is_dir() else file
    if not file.is_file():
        raise ReportError(f"{path}: no {METRICS_FILE}; give run folders written by training")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportError(f"{file}: not valid JSON ({error})") from None
    if data.get("schema_version", 1) > SCHEMA_VERSION:
        raise ReportError(f"{file}: schema {data['schema_version']} is newer than this report")
    if data.get("task") not in TASKS:
        raise ReportError(f"{file}: task {data.get('task')!r} is not one of {TASKS}")
    return RunMetrics(
        path=file, task=data["task"],
        model=str(data.get("model") or data.get("architecture") or file.parent.name),
        summary=data.get("summary", {}), per_label=data.get("per_label", {}),
        variant=data.get("variant"), inference_time_s=data.get("inference_time_s"),
        baselines=data.get("baselines", {}))


def cell(value: Any) -> Cell:
    """A metric value as a number or a (mean, ci95) pair; ``None`` when absent."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        mean, ci = value.get("mean"), value.get("ci95")
        return (float(mean), float(ci)) if ci is not None else float(mean)  # type: ignore[arg-type]
    return float(value)


def _mean(value: Cell) -> float | None:
    return value[0] if isinstance(value, tuple) else value if isinstance(value, float) else None


@dataclass(frozen=True)
class Table:
    """A titled table; numeric cells are formatted with ``digits`` per column."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    digits: tuple[int, ...] = ()

    def _text(self, value: Cell, digits: int) -> str:
        if value is None:
            return "–"
        if isinstance(value, tuple):
            return f"{value[0]:.{digits}f} ± {value[1]:.{digits + 1}f}"
        return value if isinstance(value, str) else f"{value:.{digits}f}"

    def _digits(self, column: int) -> int:
        return self.digits[column] if column < len(self.digits) else 4

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" for _ in self.columns) + "|"]
        for row in self.rows:
            cells = [self._text(v, self._digits(i)) for i, v in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        """CSV with a ``<column> ci95`` column after every column that has intervals."""
        with_ci = [any(isinstance(r[i], tuple) for r in self.rows)
                   for i in range(len(self.columns))]
        header: list[str] = []
        for name, ci in zip(self.columns, with_ci, strict=True):
            header += [name, f"{name} ci95"] if ci else [name]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            out: list[Any] = []
            for value, ci in zip(row, with_ci, strict=True):
                mean = _mean(value) if not isinstance(value, str) else value
                out.append("" if mean is None else mean)
                if ci:
                    out.append(value[1] if isinstance(value, tuple) else "")
            writer.writerow(out)
        return buffer.getvalue()


def _by_task(runs: Sequence[RunMetrics], task: str) -> list[RunMetrics]:
    return [r for r in runs if r.task == task]


def table1(runs: Sequence[RunMetrics]) -> Table:
    """Segmentation (paper Table 1)."""
    keys = ("dice", "iou", "accuracy", "precision", "recall", "f1")
    rows = tuple((r.model, *(cell(r.summary.get(k)) for k in keys), cell(r.inference_time_s))
                 for r in _by_task(runs, "segmentation"))
    return Table("table1", "Table 1: segmentation",
                 ("Model Name", "Dice", "IoU", "Accuracy", "Precision", "Recall", "F1",
                  "Inf. Time (s)"), rows, (0, 4, 4, 4, 4, 4, 4, 1))


def table2(runs: Sequence[RunMetrics]) -> Table:
    """IPP summary (paper Table 2): models that are not ablation variants (or ``full``)."""
    keys = ("accuracy", "precision", "recall", "f1")
    rows = tuple((r.model, *(cell(r.summary.get(k)) for k in keys), cell(r.inference_time_s))
                 for r in _by_task(runs, "ipp") if r.variant in (None, "full"))
    return Table("table2", "Table 2: inverse protocol prediction",
                 ("Model Name", "Accuracy", "Precision", "Recall", "F1 Score",
                  "Inference Time (s)"), rows, (0, 4, 4, 4, 4, 1))


def table4(runs: Sequence[RunMetrics]) -> Table:
    """Next frame (paper Table 4), with the copy-the-last-frame baseline when reported."""
    keys = ("mse", "ssim", "psnr")
    frames = _by_task(runs, "nextframe")
    rows = [(r.model, *(cell(r.summary.get(k)) for k in keys)) for r in frames]
    baseline = next((r.baselines["copy_last"] for r in frames if "copy_last" in r.baselines),
                    None)
    if baseline is not None:
        rows.append(("Copy last frame (baseline)", *(cell(baseline.get(k)) for k in keys)))
    return Table("table4", "Table 4: next-frame prediction",
                 ("Model Name", "Avg MSE", "Avg SSIM", "Avg PSNR"), tuple(rows), (0, 4, 4, 2))


def table6(runs: Sequence[RunMetrics]) -> Table:
    """Per-label best F1 (paper Table 6) beside the paper's best and the shape-only F1."""
    models = [r for r in _by_task(runs, "ipp") if r.variant in (None, "full") and r.per_label]
    shape_only = next((r for r in _by_task(runs, "ipp") if r.variant == "shape-only"), None)
    labels = [k for k in PAPER_BEST_F1 if any(k in r.per_label for r in models)]
    labels += sorted({k for r in models for k in r.per_label} - set(labels))
    rows = []
    for label in labels:
        scored: list[tuple[float, str]] = []
        for r in models:
            f1 = _mean(cell(r.per_label.get(label, {}).get("f1")))
            if f1 is not None:
                scored.append((f1, r.model))
        best: tuple[float | None, str] = max(scored) if scored else (None, "–")
        average = sum(f for f, _ in scored) / len(scored) if scored else None
        shape = (cell(shape_only.per_label.get(label, {}).get("f1"))
                 if shape_only is not None else None)
        paper = PAPER_BEST_F1.get(label, (None, "–"))
        rows.append((label.replace("_", " ").title(), best[0], best[1], average, _mean(shape),
                     paper[0], paper[1]))
    return Table("table6", "Table 6: per-label best performance",
                 ("Label", "Best F1", "Best Model", "Average F1 (all models)", "Shape-only F1",
                  "Paper best F1", "Paper best model"), tuple(rows), (0, 4, 0, 4, 4, 4, 0))


def table7(runs: Sequence[RunMetrics]) -> Table:
    """Fusion ablations (paper Table 7), in the paper's variant order."""
    keys = ("accuracy", "precision", "recall", "f1")
    variants = {r.variant: r for r in _by_task(runs, "ipp") if r.variant in VARIANTS}
    rows = tuple((VARIANTS[v], *(cell(variants[v].summary.get(k)) for k in keys))
                 for v in VARIANTS if v in variants)
    return Table("table7", "Table 7: ablation study (multimodal metadata prediction)",
                 ("Model Variant", "Accuracy", "Precision", "Recall", "F1 Score"), rows)


TABLES = {"1": table1, "2": table2, "4": table4, "6": table6, "7": table7}


def build_tables(runs: Sequence[RunMetrics], which: Sequence[str] = tuple(TABLES)) -> list[Table]:
    """The requested tables that have at least one row."""
    unknown = [w for w in which if w not in TABLES]
    if unknown:
        raise ReportError(f"unknown table(s) {unknown}; valid: {', '.join(TABLES)}")
    return [t for t in (TABLES[w](runs) for w in which) if t.rows]


def render_report(paths: Sequence[str | Path], which: Sequence[str] = tuple(TABLES),
                  csv_dir: str | Path | None = None) -> str:
    """Markdown of every table with rows; also ``<csv_dir>/tableN.csv`` when given."""
    tables = build_tables([load_run(p) for p in paths], which)
    if csv_dir is not None:
        folder = Path(csv_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for table in tables:
            (folder / f"{table.name}.csv").write_text(table.csv(), encoding="utf-8")
    return "\n".join(t.markdown() for t in tables)
