"""Evaluation metrics as the paper reports them (plots via matplotlib, lazily).

- Masks: Dice (:func:`engines.metrics.dice`, the runtime's), IoU, pixel accuracy, precision,
  recall, F1; images whose predicted and true masks are both empty are excluded (the paper's
  Dice = 1 / IoU = 0 edge case).
- Labels: scikit-learn's accuracy, macro precision/recall/F1 over the classes present in
  truth or prediction, and confusion matrices (and their PNGs).
- Frames: MSE, SSIM (:func:`engines.metrics.ssim`, the runtime forecast check's), PSNR, for
  images in [0, 1].
- 95% intervals: ``1.96 * SD / sqrt(N)`` as the paper, or a percentile bootstrap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from engines.metrics import dice as mask_dice
from engines.metrics import ssim

logger = logging.getLogger(__name__)

MASK_METRICS = ("dice", "iou", "accuracy", "precision", "recall", "f1")


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def mask_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float] | None:
    """The :data:`MASK_METRICS` of one binary mask pair, or ``None`` when both are empty."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if p.shape != t.shape:
        raise ValueError(f"mask shapes differ: {p.shape} vs {t.shape}")
    tp = float(np.count_nonzero(p & t))
    fp = float(np.count_nonzero(p & ~t))
    fn = float(np.count_nonzero(~p & t))
    if tp + fp + fn == 0:
        return None
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    dice = mask_dice(p, t)
    return {"dice": dice, "iou": _ratio(tp, tp + fp + fn),
            "accuracy": _ratio(p.size - fp - fn, p.size), "precision": precision,
            "recall": recall, "f1": dice}


@dataclass(frozen=True)
class Interval:
    """A mean and the half-width of its 95% interval over ``n`` values."""

    mean: float
    ci95: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.ci95:.4f}"


def interval(values: Sequence[float] | np.ndarray) -> Interval:
    """Mean ± ``1.96 * SD / sqrt(N)`` (sample SD, as the paper's normal approximation)."""
    array = np.asarray(values, np.float64)
    if array.size == 0:
        return Interval(float("nan"), float("nan"), 0)
    sd = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return Interval(float(array.mean()), 1.96 * sd / np.sqrt(array.size), int(array.size))


def bootstrap_interval(values: Sequence[float] | np.ndarray, n_boot: int = 1000,
                       seed: int = 0) -> Interval:
    """Mean and half the width of the 2.5-97.5 percentile bootstrap interval of the mean."""
    array = np.asarray(values, np.float64)
    if array.size == 0:
        return Interval(float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    means = array[rng.integers(0, array.size, (n_boot, array.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(array.mean()), float(high - low) / 2, int(array.size))


def segmentation_summary(preds: Sequence[np.ndarray],
                         truths: Sequence[np.ndarray]) -> dict[str, Interval]:
    """Per-image mask scores averaged with 95% intervals; empty-empty pairs excluded."""
    scores = [s for p, t in zip(preds, truths, strict=True) if (s := mask_scores(p, t))]
    return {name: interval([s[name] for s in scores]) for name in MASK_METRICS}


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int],
                     num_classes: int) -> np.ndarray:
    """``cm[i, j]`` = count of true class ``i`` predicted as ``j`` (scikit-learn)."""
    from sklearn.metrics import confusion_matrix as sk_confusion

    return sk_confusion(y_true, y_pred, labels=list(range(num_classes))).astype(np.int64)


def classification_scores(y_true: Sequence[int], y_pred: Sequence[int],
                          num_classes: int) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1 over classes in truth or prediction.

    ``sklearn.metrics`` with ``average="macro", zero_division=0`` (its default set of
    classes: those present in truth or prediction); all 0.0 for no samples.
    """
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(y_true) == 0:
        return {"accuracy": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(precision),
            "recall": float(recall), "f1": float(f1)}


def confusion_png(cm: np.ndarray, labels: Sequence[str], out: str | Path,
                  title: str = "", normalise: bool = True) -> Path:
    """Draw a confusion matrix (rows: truth, columns: prediction) to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(cm, np.float64)
    rows = counts.sum(1, keepdims=True)
    shown = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalise \
        else counts
    side = max(4.0, 0.35 * len(labels) + 2)
    fig = Figure(figsize=(side + 1, side))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    return out


def frame_mse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((np.asarray(pred, np.float64) - np.asarray(truth, np.float64)) ** 2))


def frame_psnr(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """``10 log10(range^2 / MSE)``; infinite for identical frames."""
    mse = frame_mse(pred, truth)
    return float("inf") if mse == 0 else float(10 * np.log10(data_range**2 / mse))


def frame_ssim(pred: np.ndarray, truth: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two 2-D frames: :func:`engines.metrics.ssim`, the one the runtime's forecast
    check uses (Gaussian window sigma 1.5, as the training loss :func:`trainer.losses.ssim`)."""
    return ssim(pred, truth, data_range=data_range)


def frame_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """MSE, SSIM and PSNR of one predicted frame."""
    return {"mse": frame_mse(pred, truth), "ssim": frame_ssim(pred, truth),
            "psnr": frame_psnr(pred, truth)}


def time_per_call(fn: Callable[[], object], repeats: int = 10, warmup: int = 2,
                  clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds per call of ``fn`` (median of ``repeats`` after ``warmup`` calls)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = clock()
        fn()
        times.append(clock() - start)
    return float(np.median(times))
