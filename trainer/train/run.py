"""Train a preset end to end: data -> training -> held-out evaluation -> calibration -> bundle.

This is what ``sentinel train --preset NAME`` (and ``python -m trainer.train``) runs. Under
``torchrun`` every rank trains; rank 0 alone evaluates, writes metrics and exports.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.train.data import DataSpec, load_splits
from trainer.train.distributed import DistContext, barrier, init_distributed, shutdown
from trainer.train.recipes import Recipe, get_preset, tiny

logger = logging.getLogger(__name__)

CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class RunOutcome:
    """One recipe's run folder, bundle folder (rank 0 only) and losses per epoch."""

    recipe: str
    task: str
    run_dir: Path
    bundle_dir: Path | None
    losses: tuple[float, ...]
    seconds: float
    skipped: str = ""
    data: str = ""


@dataclass(frozen=True)
class TrainRequest:
    """A ``sentinel train`` command line, parsed."""

    preset: str
    out: Path
    data: DataSpec = field(default_factory=DataSpec)
    epochs: int | None = None
    tiny: bool = False
    task: str | None = None
    resume: bool = False
    bundles: Path | None = None
    device: str = "auto"
    threads: int | None = None
    export: bool = True
    command: str = ""


def default_bundles(request: TrainRequest) -> Path:
    """The shipped folder for the full ``demo`` preset; ``<out>/bundles`` otherwise."""
    if request.bundles is not None:
        return request.bundles
    if request.preset == "demo" and not request.tiny:
        return Path(__file__).resolve().parents[2] / "engines" / "bundles"
    return request.out / "bundles"


def recipes_for(request: TrainRequest) -> list[Recipe]:
    recipes = list(get_preset(request.preset))
    if request.task is not None:
        recipes = [r for r in recipes if r.task == request.task]
        if not recipes:
            raise ValueError(f"preset {request.preset!r} has no {request.task} recipe")
    if request.tiny:
        recipes = [tiny(r) for r in recipes]
    if request.epochs is not None:
        recipes = [r.replace(epochs=request.epochs,
                             early_stopping=min(r.early_stopping, request.epochs)
                             if request.tiny else r.early_stopping) for r in recipes]
    return recipes


def _folder_name(recipe: Recipe, request: TrainRequest) -> str:
    return recipe.task if len(get_preset(request.preset)) > 1 else recipe.name


def run_recipe(recipe: Recipe, request: TrainRequest, context: DistContext,
               clock: Callable[[], float] = time.monotonic) -> RunOutcome:
    """Train, evaluate and export one recipe."""
    from trainer.train.adapters import make_adapter
    from trainer.train.evaluate import evaluate
    from trainer.train.export_run import export_run, read_config, save_export_inputs
    from trainer.train.loop import Trainer, load_best

    start = clock()
    name = _folder_name(recipe, request)
    run_dir = request.out / name
    splits = load_splits(recipe, request.data, mask_dir=request.out / "computed_masks")
    adapter = make_adapter(recipe, splits)
    result = Trainer(recipe, adapter, run_dir, context, clock).fit(
        request.resume, {"command": request.command, "preset": request.preset,
                         "data_spec": str(request.data)})
    bundle_dir = None
    if context.is_main:
        model = load_best(adapter, run_dir)
        evaluation = evaluate(model, adapter, run_dir, recipe)
        if evaluation.calibration:
            (run_dir / CALIBRATION_FILE).write_text(
                json.dumps(evaluation.calibration, indent=1), encoding="utf-8")
        save_export_inputs(run_dir, evaluation.golden, evaluation.flat)
        if request.export:
            bundle_dir = default_bundles(request) / name
            export_run(model, recipe, read_config(run_dir), evaluation.golden, bundle_dir,
                       calibration=evaluation.calibration, metrics=evaluation.flat,
                       command=request.command)
            if recipe.task == "segmentation" and not request.tiny:
                from trainer.train.realcheck import record_real_check

                record_real_check(bundle_dir)  # what segmentation.backend=auto decides by
    barrier(context)
    seconds = clock() - start
    logger.info("%s done in %.0f s", recipe.name, seconds)
    return RunOutcome(recipe.name, recipe.task, run_dir, bundle_dir, tuple(result.losses),
                      seconds, data=_data_note(splits.summary))


def _data_note(summary: Mapping[str, Any]) -> str:
    """How a lab's data was split and where missing masks came from, in words."""
    parts = [f"split by {summary['split']}"] if "split" in summary else []
    return "; ".join(parts + ([str(summary["masks"])] if "masks" in summary else []))


def train(request: TrainRequest) -> list[RunOutcome]:
    """Run every recipe of the request's preset (one process or one ``torchrun`` rank)."""
    import torch

    recipes = recipes_for(request)
    context = init_distributed(request.device)
    if request.threads is not None:
        torch.set_num_threads(request.threads)
    elif context.device == "cpu" and context.distributed:
        torch.set_num_threads(max(1, torch.get_num_threads() // context.world_size))
    try:
        return [_run_or_skip(r, request, context) for r in recipes]
    finally:
        shutdown(context)


def _run_or_skip(recipe: Recipe, request: TrainRequest, context: DistContext) -> RunOutcome:
    """:func:`run_recipe`, or a skipped outcome saying why when the data cannot feed it (a
    next-frame recipe on images that form no time series)."""
    from trainer.train.data import NoTimeSeries

    try:
        return run_recipe(recipe, request, context)
    except NoTimeSeries as exc:
        logger.warning("%s skipped: %s", recipe.name, exc)
        return RunOutcome(recipe.name, recipe.task, request.out / _folder_name(recipe, request),
                          None, (), 0.0, skipped=str(exc))


def format_outcomes(outcomes: Sequence[RunOutcome]) -> str:
    """One line per run: losses first -> last, time, folders."""
    lines = []
    for o in outcomes:
        if o.skipped:
            lines.append(f"{o.recipe}: skipped: {o.skipped}")
            continue
        curve = f"{o.losses[0]:.4f} -> {o.losses[-1]:.4f}" if o.losses else "no epochs"
        where = f", bundle {o.bundle_dir}" if o.bundle_dir else ""
        lines.append(f"{o.recipe}: loss {curve} in {o.seconds:.0f} s; run {o.run_dir}{where}")
        if o.data:
            lines.append(f"  data: {o.data}")
    return "\n".join(lines)
