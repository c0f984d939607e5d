"""The training loop shared by every task (the task-specific parts are adapters).

Per epoch: train (AMP on CUDA when the recipe asks), validate on the full validation set,
step ReduceLROnPlateau on the monitor, keep the best weights, write a resumable checkpoint
(rank 0), stop early after ``early_stopping`` epochs without improvement. The effective
config is ``config.json`` in the run folder; the loss curve is in ``history.json``.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.train.adapters import TaskAdapter, core, core_wrapper
from trainer.train.checkpoint import BEST_FILE, has_checkpoint, load_checkpoint, save_checkpoint
from trainer.train.distributed import (
    DistContext,
    barrier,
    eval_loader,
    mean_over_ranks,
    set_epoch,
    train_loader,
    wrap,
)
from trainer.train.recipes import Recipe

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: mean training loss, validation metrics, learning rate, seconds."""

    epoch: int
    train_loss: float
    val: Mapping[str, float]
    lr: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced (the best weights are ``run_dir / best.safetensors``)."""

    run_dir: Path
    history: tuple[EpochRecord, ...]
    best_epoch: int
    best_score: float
    stopped_early: bool

    @property
    def losses(self) -> list[float]:
        return [r.train_loss for r in self.history]


def make_optimizer(recipe: Recipe, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe.optimiser == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(recipe: Recipe, optimizer: torch.optim.Optimizer) -> Any:
    if recipe.scheduler is None:
        return None
    s = recipe.scheduler
    return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=s.mode,  # type: ignore[arg-type]
                                                      patience=s.patience, factor=s.factor)


def _scheduler_value(recipe: Recipe, val: Mapping[str, float]) -> float:
    assert recipe.scheduler is not None
    if (recipe.scheduler.mode == "max") == recipe.maximise:
        return val[recipe.monitor]
    return val["loss"] if recipe.scheduler.mode == "min" else -val["loss"]


def write_config(run_dir: Path, recipe: Recipe, adapter: TaskAdapter, context: DistContext,
                 extra: Mapping[str, Any]) -> Path:
    """``config.json``: the recipe as run, the adapter's data facts, the process layout."""
    body = {"recipe": recipe.as_dict(), "task": adapter.describe(),
            "model_kwargs": adapter.model_kwargs(), "data": dict(adapter.splits.summary),
            "world_size": context.world_size, "device": context.device, **extra}
    path = run_dir / CONFIG_FILE
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return path


class Trainer:
    """Runs one recipe with one adapter in ``run_dir``.

    Args:
        clock: seconds (monotonic), injected so tests control epoch timings.
    """

    def __init__(self, recipe: Recipe, adapter: TaskAdapter, run_dir: Path,
                 context: DistContext | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recipe, self.adapter, self.run_dir = recipe, adapter, Path(run_dir)
        self.context = context or DistContext()
        self.clock = clock
        self.device = self.context.torch_device
        torch.manual_seed(recipe.seed)
        self.model = wrap(adapter.build_model(), self.context)
        self.optimizer = make_optimizer(recipe, self.model)
        self.scheduler = make_scheduler(recipe, self.optimizer)
        self.amp = recipe.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None

    def fit(self, resume: bool = False, extra_config: Mapping[str, Any] | None = None
            ) -> TrainResult:
        recipe, ctx = self.recipe, self.context
        history: list[EpochRecord] = []
        best, best_epoch, bad = -math.inf, -1, 0
        if resume and has_checkpoint(self.run_dir):
            state = load_checkpoint(self.run_dir, core_wrapper(self.model), self.optimizer,
                                    self.scheduler, self.scaler, self.device)
            history = [EpochRecord(**r) for r in state["history"]]
            best, best_epoch, bad = state["best"], state["best_epoch"], state["bad_epochs"]
            logger.info("%s: resumed after epoch %d", recipe.name, len(history))
        if ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_config(self.run_dir, recipe, self.adapter, ctx, extra_config or {})
        loader = train_loader(self.adapter.train_set, recipe.batch_size, ctx, recipe.seed)
        val_loader = eval_loader(self.adapter.val_set, recipe.batch_size)
        stopped = False
        for epoch in range(len(history), recipe.epochs):
            record = self._epoch(epoch, loader, val_loader)
            history.append(record)
            score = record.val[recipe.monitor] * (1 if recipe.maximise else -1)
            if score > best:
                best, best_epoch, bad = score, epoch, 0
                self._save_best()
            else:
                bad += 1
            if self.scheduler is not None:
                self.scheduler.step(_scheduler_value(recipe, record.val))
            self._save_progress(history, best, best_epoch, bad)
            if bad >= recipe.early_stopping:
                logger.info("%s: early stop after epoch %d", recipe.name, epoch + 1)
                stopped = True
                break
        if not (self.run_dir / BEST_FILE).is_file() and ctx.is_main:
            self._save_best()
        barrier(ctx)
        return TrainResult(self.run_dir, tuple(history), best_epoch,
                           best * (1 if recipe.maximise else -1), stopped)

    def _epoch(self, epoch: int, loader: Any, val_loader: Any) -> EpochRecord:
        from tqdm import tqdm

        recipe, start = self.recipe, self.clock()
        set_epoch(loader, epoch)
        self.model.train()
        total, count = 0.0, 0
        quiet = not (self.context.is_main and sys.stderr.isatty())
        bar = tqdm(loader, desc=f"{recipe.name} {epoch + 1}/{recipe.epochs}", disable=quiet,
                   leave=False)
        for step, batch in enumerate(bar):
            progress = (epoch + step / max(len(loader), 1)) / max(recipe.epochs, 1)
            loss = self.step(batch, progress)
            total, count = total + loss, count + 1
            bar.set_postfix(loss=f"{total / count:.4f}")
        train_loss = mean_over_ranks(total / max(count, 1), self.context)
        self.model.eval()
        val = self.adapter.validate(core(self.model), val_loader, self.device)
        record = EpochRecord(epoch, train_loss, val, self.optimizer.param_groups[0]["lr"],
                             self.clock() - start)
        if self.context.is_main:
            shown = " ".join(f"{k} {v:.4f}" for k, v in val.items())
            logger.info("%s epoch %d/%d: train loss %.4f, val %s (%.0f s)", recipe.name,
                        epoch + 1, recipe.epochs, train_loss, shown, record.seconds)
        return record

    def step(self, batch: Any, progress: float = 0.0) -> float:
        """One optimisation step on ``batch``; returns its loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            loss = self.adapter.loss(self.model, batch, self.device, progress)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    def _save_best(self) -> None:
        if self.context.is_main:
            from engines.zoo import save_weights

            save_weights(core(self.model), self.run_dir / BEST_FILE)

    def _save_progress(self, history: list[EpochRecord], best: float, best_epoch: int,
                       bad: int) -> None:
        if not self.context.is_main:
            return
        rows = [asdict(r) for r in history]
        save_checkpoint(self.run_dir, core_wrapper(self.model), self.optimizer, self.scheduler,
                        self.scaler, {"history": rows, "best": best, "best_epoch": best_epoch,
                                      "bad_epochs": bad})
        (self.run_dir / HISTORY_FILE).write_text(json.dumps(rows, indent=1), encoding="utf-8")


def load_best(adapter: TaskAdapter, run_dir: Path) -> nn.Module:
    """The adapter's model (without training-only heads) with the run's best weights."""
    from engines.zoo import load_weights

    model = core(adapter.build_model())
    load_weights(model, run_dir / BEST_FILE)
    return model.eval()
