"""The paper's training losses (Appendix B) and domain-adversarial helpers, in PyTorch.

Segmentation losses take logits ``[B,1,H,W]`` and a 0/1 target of the same shape and
average a per-image loss over the batch. Classification losses take logits ``[B,K]`` and
class indices ``[B]`` (``-100`` is ignored). Frame losses take images in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100


def _flat(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if logits.shape != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ")
    return torch.sigmoid(logits).flatten(1), target.float().flatten(1)


def focal_tversky_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.7,
                       beta: float = 0.3, gamma: float = 0.75,
                       smooth: float = 1e-6) -> torch.Tensor:
    """``(1 - TI) ** gamma`` per image, TI = (TP + s) / (TP + alpha FN + beta FP + s).

    ``alpha`` weighs false negatives, ``beta`` false positives (B.1, B.6-B.8).
    """
    prob, truth = _flat(logits, target)
    tp = (prob * truth).sum(1)
    fn = ((1 - prob) * truth).sum(1)
    fp = (prob * (1 - truth)).sum(1)
    tversky = (tp + smooth) / (tp + alpha * fn + beta * fp + smooth)
    return (1 - tversky).clamp_min(1e-12).pow(gamma).mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1e-6) -> torch.Tensor:
    """``1 - (2 sum(p t) + s) / (sum p + sum t + s)`` per image, averaged."""
    prob, truth = _flat(logits, target)
    dice = (2 * (prob * truth).sum(1) + smooth) / (prob.sum(1) + truth.sum(1) + smooth)
    return (1 - dice).mean()


def bce_dice_loss(logits: torch.Tensor, target: torch.Tensor, bce_weight: float = 0.5,
                  dice_weight: float = 0.5, smooth: float = 1e-6) -> torch.Tensor:
    """``0.5 BCEWithLogits + 0.5 Dice`` (B.2, B.3)."""
    bce = F.binary_cross_entropy_with_logits(logits, target.float())
    return bce_weight * bce + dice_weight * dice_loss(logits, target, smooth)


def class_weights(labels: Sequence[int] | np.ndarray, num_classes: int) -> torch.Tensor:
    """``n / (K * count_k)`` per class (scikit-learn's "balanced"); unseen classes get 0.

    ``K`` counts the classes present; ignored labels (``-100``) are left out.
    """
    values = np.asarray(labels, np.int64)
    values = values[values != IGNORE_INDEX]
    counts = np.bincount(values, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = values.size / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def weighted_cross_entropy(logits: torch.Tensor, target: torch.Tensor,
                           weights: torch.Tensor | None = None) -> torch.Tensor:
    """Class-weighted cross-entropy (B.12, B.13); ``-100`` targets are ignored."""
    if weights is not None:
        weights = weights.to(logits.device, logits.dtype)
    return F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE_INDEX)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
               alpha: float = 0.25) -> torch.Tensor:
    """Multi-class focal loss ``-alpha (1 - p_t)^gamma log p_t``, mean over labelled rows."""
    keep = target != IGNORE_INDEX
    if not bool(keep.any()):
        return logits.sum() * 0.0
    log_p = F.log_softmax(logits[keep], dim=1).gather(1, target[keep][:, None]).squeeze(1)
    return (-alpha * (1 - log_p.exp()).pow(gamma) * log_p).mean()


def l1_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error (ConvLSTM, PredRNN++, PhyDNet)."""
    return F.l1_loss(prediction, target)


def _gaussian_window(size: int, sigma: float, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, sigma: float = 1.5,
         window: int = 11, reduction: str = "mean") -> torch.Tensor:
    """Differentiable SSIM of ``[B,C,H,W]`` images (Gaussian window, population covariance).

    Over the valid region (no padding), which equals scikit-image's
    ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
    ``reduction="none"`` gives one value per image.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"need two [B,C,H,W] tensors of one shape, got {x.shape}, {y.shape}")
    channels = x.shape[1]
    kernel = _gaussian_window(window, sigma, x.device, x.dtype).expand(channels, 1, -1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_image = s.flatten(1).mean(1)
    return per_image.mean() if reduction == "mean" else per_image


def mse_ssim_loss(prediction: torch.Tensor, target: torch.Tensor, mse_weight: float = 0.8,
                  ssim_weight: float = 0.2) -> torch.Tensor:
    """``0.8 MSE + 0.2 (1 - SSIM)`` (MMFusionNet, B.16)."""
    return mse_weight * F.mse_loss(prediction, target) + ssim_weight * (
        1 - ssim(prediction, target)
    )


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor, lambd: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lambd = lambd  # type: ignore[attr-defined]
        return x.view_as(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.lambd * grad, None  # type: ignore[attr-defined]


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; multiplies the gradient by ``-lambd`` backward."""
    return _GradientReversal.apply(x, lambd)  # type: ignore[no-any-return]


def grl_lambda(progress: float) -> float:
    """DANN schedule ``2 / (1 + exp(-10 p)) - 1`` for training progress ``p`` in [0, 1]."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


class DomainAdversarialHead(nn.Module):
    """Gradient reversal then an MLP that predicts the domain (microscope or replicate).

    ``forward(features[B,F], lambd)`` returns domain logits ``[B, n_domains]``; add its
    cross-entropy to the task loss and the backbone learns domain-invariant features.
    """

    def __init__(self, in_features: int, n_domains: int, hidden: int = 256,
                 dropout: float = 0.1) -> None:
        super().__init__()
        self.classifier = nn.Sequential(
            nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, n_domains),
        )

    def forward(self, features: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
        return self.classifier(grad_reverse(features.flatten(1), lambd))  # type: ignore[no-any-return]


#: Losses by name, for recipes: ``LOSSES[name](prediction, target)``.
LOSSES = {
    "focal_tversky": focal_tversky_loss,
    "bce_dice": bce_dice_loss,
    "bce": lambda logits, target: F.binary_cross_entropy_with_logits(logits, target.float()),
    "cross_entropy": weighted_cross_entropy,
    "focal": focal_loss,
    "l1": l1_loss,
    "mse_ssim": mse_ssim_loss,
}


def get_loss(name: str):  # type: ignore[no-untyped-def]
    """The loss registered as ``name``; unknown names raise listing the valid ones."""
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(sorted(LOSSES))}")
    return LOSSES[name]
