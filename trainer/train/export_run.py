"""A trained run -> an engine bundle (:func:`engines.export.export_bundle`).

The bundle gets the run's best weights, golden inputs taken from the held-out set, the
label vocabularies (IPP heads, ordinal labels marked), shape-feature statistics, the
calibration fitted on the validation split (with the Mondrian scores per class), the held-out
metrics, a data summary and the exact training command. IPP models are exported with their
``embedding`` and ``ood_features`` outputs; the OOD statistics come from
``sentinel train recalibrate`` (it renders fresh frames through the production path).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from trainer.data.datasets import META_FIELDS
from trainer.data.records import ORDINAL_LABELS
from trainer.train.adapters import IMAGE_MEAN, IMAGE_STD
from trainer.train.recipes import Recipe

logger = logging.getLogger(__name__)


def _heads(model: Any, vocabularies: Mapping[str, Any]) -> list[Any]:
    from engines.bundle import HeadSpec

    return [HeadSpec(name=h, labels=tuple(vocabularies[h]), ordinal=h in ORDINAL_LABELS)
            for h in model.head_names]


def export_run(model: Any, recipe: Recipe, config: Mapping[str, Any],
               golden: Mapping[str, np.ndarray], out_dir: Path, *,
               calibration: Mapping[str, Any] | None = None,
               metrics: Mapping[str, float] | None = None, command: str = "") -> Any:
    """Export ``model`` (trained with ``recipe``; ``config`` is the run's config.json).

    Returns:
        The verified :class:`engines.bundle.Bundle`.
    """
    from engines.bundle import Calibration, Normalisation
    from engines.export import export_bundle
    from trainer.calibration import manifest_calibration

    task_facts = config.get("task", {})
    size = (recipe.input_size, recipe.input_size)
    names = list(model.head_names) if recipe.task == "ipp" else (
        ["logits"] if recipe.task == "segmentation" else ["next_frame"])
    model_kwargs = dict(config.get("model_kwargs", {}))
    if recipe.task == "ipp" and hasattr(model, "embedding"):
        from engines.bundle import EMBEDDING, OOD_FEATURES

        model.embedding = True  # the extra outputs carry no weights
        names += [EMBEDDING, OOD_FEATURES]
        model_kwargs["embedding"] = True
    common: dict[str, Any] = {
        "sample_inputs": {k: np.ascontiguousarray(v) for k, v in golden.items()},
        "output_names": names, "size": size, "command": command,
        "model_kwargs": model_kwargs,
        "metrics": {k: float(v) for k, v in (metrics or {}).items() if np.isfinite(v)},
        "data": {**config.get("data", {}), "recipe": recipe.name, "trained_on_synthetic":
                 config.get("data", {}).get("source") == "synthetic atlas"},
    }
    if recipe.task == "segmentation":
        extra: dict[str, Any] = {"normalisation": Normalisation(mean=IMAGE_MEAN, std=IMAGE_STD),
                                 "threshold": 0.5, "channels": 3}
    elif recipe.task == "ipp":
        shape = (task_facts["shape_mean"], task_facts["shape_std"]) \
            if "shape" in golden else None
        extra = {"normalisation": Normalisation(mean=IMAGE_MEAN, std=IMAGE_STD), "channels": 3,
                 "heads": _heads(model, task_facts["vocabularies"]), "shape_stats": shape,
                 "calibration": Calibration(**manifest_calibration(
                     calibration or {}, task_facts["vocabularies"]))}
    else:
        common["data"]["meta_vocabularies"] = task_facts.get("vocabularies", {})
        extra = {"normalisation": Normalisation(mean=0.0, std=1.0), "channels": 1,
                 "context_frames": int(golden["frames"].shape[1]),
                 "meta_fields": META_FIELDS if "meta" in golden else ()}
    bundle = export_bundle(model, recipe.model, recipe.task, out_dir, **common, **extra)
    logger.info("%s: bundle %s", recipe.name, out_dir)
    return bundle


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run folder's ``config.json``."""
    return json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


GOLDEN_FILE = "golden_inputs.npz"
FLAT_METRICS_FILE = "bundle_metrics.json"


def save_export_inputs(run_dir: Path, golden: Mapping[str, np.ndarray],
                       metrics: Mapping[str, float]) -> None:
    """Keep what a later :func:`export_run_folder` needs beside the run's weights."""
    arrays: dict[str, Any] = {k: np.asarray(v) for k, v in golden.items()}
    np.savez(Path(run_dir) / GOLDEN_FILE, **arrays)
    (Path(run_dir) / FLAT_METRICS_FILE).write_text(json.dumps(dict(metrics), indent=1),
                                                   encoding="utf-8")


def export_run_folder(run_dir: Path, out_dir: Path) -> Any:
    """Export a finished run folder (``best.safetensors`` + its config, calibration, metrics,
    golden inputs) as a bundle, e.g. again after a bundle was lost."""
    from engines.zoo import create_model, load_weights

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    recipe = Recipe.from_dict(config["recipe"])
    model = create_model(recipe.model, **config["model_kwargs"])
    load_weights(model, run_dir / "best.safetensors")
    with np.load(run_dir / GOLDEN_FILE, allow_pickle=False) as data:
        golden = {k: data[k] for k in data.files}
    calibration_file = run_dir / "calibration.json"
    calibration = (json.loads(calibration_file.read_text(encoding="utf-8"))
                   if calibration_file.is_file() else None)
    metrics = json.loads((run_dir / FLAT_METRICS_FILE).read_text(encoding="utf-8"))
    return export_run(model.eval(), recipe, config, golden, out_dir, calibration=calibration,
                      metrics=metrics, command=str(config.get("command", "")))
