"""Held-out evaluation of a trained model, calibration, and the run's ``metrics.json``.

The test set never met training: on the atlas it is rendered from an unseen seed. Reports:

- segmentation: Dice, IoU, accuracy, precision, recall, F1 at model resolution (empty-empty
  pairs excluded), with 95% intervals;
- IPP: per-label accuracy (with interval) and macro precision/recall/F1, beside a shape-only
  baseline: multinomial logistic regression on the nine z-normalised shape descriptors of
  the same training images (the descriptors the fusion model also reads);
- next frame: MSE, SSIM, PSNR against the copy-the-last-frame baseline;
- calibration (IPP): per-head temperature and conformal thresholds fitted on the calibration
  split (disjoint from validation on the atlas), ECE before/after on that split and after on
  the test set, conformal coverage on the test set;
- inference time: seconds to predict the whole test set on this machine.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import softmax
from torch import nn

from trainer.calibration import calibrate_heads, check_coverage, expected_calibration_error
from trainer.metrics import classification_scores, frame_scores, interval, segmentation_summary
from trainer.report import write_metrics
from trainer.train.adapters import IPPAdapter, NextFrameAdapter, TaskAdapter
from trainer.train.distributed import eval_loader
from trainer.train.recipes import Recipe

logger = logging.getLogger(__name__)

GOLDEN_BATCH = 2


@dataclass(frozen=True)
class Evaluation:
    """Held-out results: metrics.json's body, the calibration (IPP) and golden inputs."""

    summary: Mapping[str, Any] = field(hash=False)
    extra: Mapping[str, Any] = field(hash=False)
    calibration: Mapping[str, Any] = field(hash=False, default_factory=dict)
    golden: Mapping[str, np.ndarray] = field(hash=False, default_factory=dict)
    flat: Mapping[str, float] = field(hash=False, default_factory=dict)


def _timed(fn: Callable[[], Any], clock: Callable[[], float]) -> tuple[Any, float]:
    start = clock()
    result = fn()
    return result, clock() - start


def _golden(names: tuple[str, ...], tensors: tuple[torch.Tensor | None, ...]
            ) -> dict[str, np.ndarray]:
    present = [t for t in tensors if t is not None]
    return {n: t[:GOLDEN_BATCH].cpu().numpy().astype(np.float32)
            for n, t in zip(names, present, strict=True)}


@torch.no_grad()
def evaluate_segmentation(model: nn.Module, adapter: TaskAdapter, clock: Callable[[], float]
                          ) -> Evaluation:
    loader = eval_loader(adapter.test_set, adapter.recipe.batch_size)
    batches = list(loader)

    def predict() -> list[np.ndarray]:
        return [(model(x) > 0).numpy() for x, _ in batches]

    preds, seconds = _timed(predict, clock)
    masks = [m[0] for p in preds for m in p]
    truths = [t[0].numpy() > 0.5 for _, y in batches for t in y]
    summary = segmentation_summary(masks, truths)
    flat = {f"test/{k}": v.mean for k, v in summary.items()}
    golden = _golden(("image",), (batches[0][0],))
    return Evaluation(summary, {"inference_time_s": seconds}, golden=golden, flat=flat)


def shape_only_baseline(adapter: IPPAdapter) -> dict[str, dict[str, float]]:
    """Per-label scores of logistic regression on the nine shape features (train -> test)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    def table(dataset: Any) -> tuple[np.ndarray, np.ndarray]:
        items = [dataset[i] for i in range(len(dataset))]
        keep = [it for it in items if float(it["has_shape"]) > 0]
        return (np.stack([it["shape"].numpy() for it in keep]),
                np.stack([it["labels"].numpy() for it in keep]))

    x_train, y_train = table(_plain_train(adapter))  # training images, no augmentation
    x_test, y_test = table(adapter.test_set)
    out: dict[str, dict[str, float]] = {}
    for head in adapter.heads:
        column = adapter.dataset_heads.index(head)
        fit_rows, test_rows = y_train[:, column] != -100, y_test[:, column] != -100
        classes = np.unique(y_train[fit_rows, column])
        if len(classes) < 2 or not test_rows.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = LogisticRegression(max_iter=1000, C=10.0)
            model.fit(x_train[fit_rows], y_train[fit_rows, column])
        predicted = model.predict(x_test[test_rows])
        out[head] = classification_scores(y_test[test_rows, column], predicted,
                                          adapter.heads[head])
    return out


def _plain_train(adapter: IPPAdapter) -> Any:
    from trainer.data.datasets import IPPDataset

    return IPPDataset(adapter.splits.train, adapter.vocabularies, adapter.shape_stats,
                      adapter.dataset_heads, adapter.model_input,
                      analysis_side=adapter.train_set.analysis_side)


def _per_label(logits: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]
               ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for head, values in logits.items():
        keep = labels[head] != -100
        y, predicted = labels[head][keep], values[keep].argmax(1)
        if not len(y):
            continue
        scores: dict[str, Any] = classification_scores(y, predicted, values.shape[1])
        scores["accuracy"] = interval((y == predicted).astype(np.float64)).as_dict()
        out[head] = scores
    return out


def _calibrate(adapter: IPPAdapter, model: nn.Module, test_logits: Mapping[str, np.ndarray],
               test_labels: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    val_logits, val_labels = adapter.collect(model, eval_loader(adapter.calib_set, 64),
                                             torch.device("cpu"))
    heads = [h for h in val_logits if (val_labels[h] != -100).sum() > 1]
    calibration = calibrate_heads({h: val_logits[h] for h in heads},
                                  {h: val_labels[h] for h in heads})
    coverage = check_coverage(calibration, test_logits, test_labels)
    report: dict[str, Any] = {}
    for head, item in calibration.items():
        keep = test_labels[head] != -100
        probs = softmax(test_logits[head][keep] / item["temperature"], axis=1)
        report[head] = {"temperature": item["temperature"], "ece_before": item["ece_before"],
                        "ece_after": item["ece_after"], "n_calibration": item["n"],
                        "ece_test_after": expected_calibration_error(probs,
                                                                     test_labels[head][keep]),
                        "coverage": coverage[head]}
    return calibration, report


@torch.no_grad()
def evaluate_ipp(model: nn.Module, adapter: IPPAdapter,
                 clock: Callable[[], float]) -> Evaluation:
    loader = eval_loader(adapter.test_set, 64)
    (logits, labels), seconds = _timed(
        lambda: adapter.collect(model, loader, torch.device("cpu")), clock)
    per_label = _per_label(logits, labels)
    summary = {k: float(np.mean([_mean(s[k]) for s in per_label.values()]))
               for k in ("accuracy", "precision", "recall", "f1")}
    baseline = shape_only_baseline(adapter)
    calibration, report = _calibrate(adapter, model, logits, labels)
    flat = {f"test/f1/{h}": _mean(s["f1"]) for h, s in per_label.items()}
    flat.update({f"shape_only/f1/{h}": s["f1"] for h, s in baseline.items()})
    for head, item in report.items():
        flat[f"ece_after/{head}"] = float(item["ece_after"])
        flat[f"coverage_0.05/{head}"] = float(item["coverage"].get("0.05", float("nan")))
    first = next(iter(loader))
    golden = _golden(_ipp_inputs(adapter), adapter.inputs(first, torch.device("cpu")))
    extra = {"per_label": per_label, "inference_time_s": seconds, "calibration": report,
             "baselines": {"shape_only_logreg": baseline}}
    return Evaluation(summary, extra, calibration, golden, flat)


def _ipp_inputs(adapter: IPPAdapter) -> tuple[str, ...]:
    return tuple(n for n, used in (("image", adapter.info.uses_image),
                                   ("shape", adapter.info.uses_shape)) if used)


def _mean(value: Any) -> float:
    return float(value["mean"]) if isinstance(value, Mapping) else float(value)


@torch.no_grad()
def evaluate_nextframe(model: nn.Module, adapter: NextFrameAdapter,
                       clock: Callable[[], float]) -> Evaluation:
    batches = list(eval_loader(adapter.test_set, adapter.recipe.batch_size))
    device = torch.device("cpu")

    def predict() -> list[np.ndarray]:
        return [model(*adapter.inputs(b, device)).clamp(0, 1).numpy() for b in batches]

    preds, seconds = _timed(predict, clock)
    rows, copies = [], []
    for batch, pred in zip(batches, preds, strict=True):
        for i in range(len(pred)):
            target = batch["target"][i, 0].numpy()
            rows.append(frame_scores(pred[i, 0], target))
            copies.append(frame_scores(batch["frames"][i, -1].numpy(), target))
    summary = {k: interval([r[k] for r in rows]) for k in ("mse", "ssim", "psnr")}
    copy_last = {k: interval([r[k] for r in copies]) for k in ("mse", "ssim", "psnr")}
    flat = {f"test/{k}": v.mean for k, v in summary.items()}
    flat.update({f"copy_last/{k}": v.mean for k, v in copy_last.items()})
    names = ("frames", "meta") if adapter.info.uses_meta else ("frames",)
    golden = _golden(names, adapter.inputs(batches[0], device))
    return Evaluation(summary, {"inference_time_s": seconds,
                                "baselines": {"copy_last": copy_last}}, golden=golden,
                      flat=flat)


def evaluate(model: nn.Module, adapter: TaskAdapter, run_dir: Path, recipe: Recipe,
             clock: Callable[[], float] = time.perf_counter) -> Evaluation:
    """Evaluate on the held-out test set and write ``run_dir/metrics.json``."""
    model = model.cpu().eval()
    if recipe.task == "segmentation":
        result = evaluate_segmentation(model, adapter, clock)
    elif recipe.task == "ipp":
        assert isinstance(adapter, IPPAdapter)
        result = evaluate_ipp(model, adapter, clock)
    else:
        assert isinstance(adapter, NextFrameAdapter)
        result = evaluate_nextframe(model, adapter, clock)
    write_metrics(run_dir, recipe.task, recipe.display, result.summary,
                  architecture=recipe.model, variant=recipe.variant, split="test",
                  n=len(adapter.test_set), **result.extra)
    if recipe.task == "ipp":
        write_shape_baseline(run_dir, result.extra["baselines"]["shape_only_logreg"])
    logger.info("%s held-out: %s", recipe.name,
                ", ".join(f"{k} {v:.4f}" for k, v in result.flat.items() if "/" in k
                          and k.count("/") == 1))
    return result


def write_shape_baseline(run_dir: Path, per_label: Mapping[str, Mapping[str, float]]) -> Path:
    """The shape-only baseline as its own run folder (``<run>_shape_only``, variant
    ``shape-only``), so ``sentinel train report`` shows it in Tables 6 and 7."""
    summary = {k: float(np.mean([s[k] for s in per_label.values()]))
               for k in ("accuracy", "precision", "recall", "f1")}
    return write_metrics(run_dir.with_name(f"{run_dir.name}_shape_only"), "ipp",
                         "Shape-only (logistic regression)", summary, variant="shape-only",
                         architecture="logistic_regression", split="test",
                         per_label=per_label)
