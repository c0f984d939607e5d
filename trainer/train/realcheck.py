"""How far synthetic training carries: the default engines on the shared real images.

- segmentation: plausible single spheroids on the 50 real crops and Dice on the 4 GOAT
  fields (:mod:`engines.realdata`), beside the classical fallback;
- next frame: SSIM and PSNR of the forecast on the MCF7 time-lapse (frames ``i, i+1`` ->
  ``i+2``, 30 min apart) beside copying the last frame, at the engine's size in [0, 1].
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engines.preprocess import as_plane, normalise, resize_area
from trainer.data.datasets import meta_vector
from trainer.metrics import frame_psnr, frame_ssim

logger = logging.getLogger(__name__)

TIMELAPSE = "jointforces_mcf7_timelapse"


def segmentation_figures(bundle: Path, root: Path | None = None) -> dict[str, Any]:
    """Crop plausibility and GOAT Dice of the bundle's engine and of the classical segmenter."""
    from engines.classical import ClassicalSegmenter
    from engines.realdata import crop_plausibility, goat_dice
    from engines.tasks import SegmentationEngine

    engine = SegmentationEngine(bundle, "onnx")
    engine.load()
    try:
        figures = {}
        segmenters: tuple[tuple[str, Any], ...] = (("engine", engine),
                                                   ("classical", ClassicalSegmenter()))
        for name, segmenter in segmenters:
            plausible, total = crop_plausibility(segmenter, root)
            dices = goat_dice(segmenter, root)
            figures[name] = {"plausible": plausible, "crops": total,
                             "goat_dice": [round(d, 4) for d in dices],
                             "goat_mean_dice": float(np.mean(dices))}
        return figures
    finally:
        engine.close()


def segmentation_metrics(figures: dict[str, Any]) -> dict[str, float]:
    """:func:`segmentation_figures` as the manifest metrics ``auto`` decides by
    (:data:`engines.realdata.REAL_CHECK_METRICS`)."""
    engine, classical = figures["engine"], figures["classical"]
    return {"real/crops": float(engine["crops"]),
            "real/engine_plausible_crops": float(engine["plausible"]),
            "real/classical_plausible_crops": float(classical["plausible"]),
            "real/engine_goat_mean_dice": round(float(engine["goat_mean_dice"]), 4),
            "real/classical_goat_mean_dice": round(float(classical["goat_mean_dice"]), 4)}


def record_real_check(bundle: Path, root: Path | None = None) -> dict[str, float] | None:
    """Run the real-image check on a segmentation bundle and store its figures in the
    manifest's metrics (re-sealed), so ``segmentation.backend = auto`` can choose by them.

    Returns the figures, or ``None`` when the shared real images are not on this PC.
    """
    from engines.bundle import read_manifest, write_manifest
    from engines.realdata import better_segmenter, real_data_root

    if (root or real_data_root()) is None:
        return None
    metrics = segmentation_metrics(segmentation_figures(bundle, root))
    manifest = read_manifest(bundle)
    write_manifest(bundle, manifest.model_copy(
        update={"metrics": {**manifest.metrics, **metrics}}))
    logger.info("%s: %s -> auto picks %s", bundle, better_segmenter(metrics)[1],
                better_segmenter(metrics)[0])
    return metrics


def _timelapse(root: Path) -> tuple[list[np.ndarray], list[dict[str, str]]]:
    folder = root / TIMELAPSE
    with (folder / "labels.csv").open(newline="") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda r: int(r["frame_index"]))
    frames = [np.asarray(cv2.imread(str(folder / r["filename"]), cv2.IMREAD_UNCHANGED))
              for r in rows]
    return [as_plane(f) for f in frames], rows


def forecast_figures(bundle: Path, root: Path) -> dict[str, float]:
    """Mean SSIM/PSNR of the forecast and of copy-last over the time-lapse triplets."""
    from engines.tasks import ForecastEngine

    engine = ForecastEngine(bundle, "onnx")
    engine.load()
    frames, rows = _timelapse(root)
    vocab = engine.bundle.manifest.data.get("meta_vocabularies", {})
    size = engine.size
    scores: dict[str, list[float]] = {k: [] for k in ("ssim", "psnr", "copy_ssim", "copy_psnr")}
    try:
        for i in range(len(frames) - 2):
            gap = (float(rows[i + 2]["time_min"]) - float(rows[i + 1]["time_min"])) / 60
            labels = {"cell_line": rows[i]["cell_line"],
                      "seeding_density": rows[i]["seeding_cells"]}
            meta = meta_vector(labels, gap, vocab)
            predicted = engine.forecast(frames[i:i + 2], meta.tolist())
            target = normalise(resize_area(frames[i + 2], size))
            last = normalise(resize_area(frames[i + 1], size))
            scores["ssim"].append(frame_ssim(np.clip(predicted, 0, 1), target))
            scores["psnr"].append(frame_psnr(np.clip(predicted, 0, 1), target))
            scores["copy_ssim"].append(frame_ssim(last, target))
            scores["copy_psnr"].append(frame_psnr(last, target))
    finally:
        engine.close()
    return {k: float(np.mean(v)) for k, v in scores.items()} | {"n": len(scores["ssim"])}
