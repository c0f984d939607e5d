"""Every loss against a hand-computed value, with finite gradients; GRL and its schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from sklearn.utils.class_weight import compute_class_weight

from engines import metrics
from trainer import losses

LOGITS = torch.tensor([[[[2.0, -1.0], [0.5, -3.0]]]])  # [1,1,2,2]
TARGET = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]])


def _sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _grad_ok(loss: torch.Tensor, leaf: torch.Tensor) -> None:
    (grad,) = torch.autograd.grad(loss, leaf)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_focal_tversky_by_hand() -> None:
    p = [_sig(v) for v in (2.0, -1.0, 0.5, -3.0)]
    t = [1, 0, 1, 1]
    tp = sum(a * b for a, b in zip(p, t, strict=True))
    fn = sum((1 - a) * b for a, b in zip(p, t, strict=True))
    fp = sum(a * (1 - b) for a, b in zip(p, t, strict=True))
    ti = (tp + 1e-6) / (tp + 0.7 * fn + 0.3 * fp + 1e-6)
    logits = LOGITS.clone().requires_grad_()
    loss = losses.focal_tversky_loss(logits, TARGET)
    assert float(loss.detach()) == pytest.approx((1 - ti) ** 0.75, rel=1e-5)
    _grad_ok(loss, logits)


def test_bce_dice_by_hand() -> None:
    p = [_sig(v) for v in (2.0, -1.0, 0.5, -3.0)]
    t = [1, 0, 1, 1]
    bce = -np.mean([b * math.log(a) + (1 - b) * math.log(1 - a) for a, b in zip(p, t, strict=True)])
    dice = (2 * sum(a * b for a, b in zip(p, t, strict=True)) + 1e-6) / (sum(p) + 3 + 1e-6)
    logits = LOGITS.clone().requires_grad_()
    loss = losses.bce_dice_loss(logits, TARGET)
    assert float(loss.detach()) == pytest.approx(0.5 * bce + 0.5 * (1 - dice), rel=1e-5)
    _grad_ok(loss, logits)


def test_class_weights_match_sklearn_and_weighted_ce_by_hand() -> None:
    labels = np.array([0, 0, 0, 1, 2, 2, -100])
    weights = losses.class_weights(labels, 4)
    reference = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=labels[:-1])
    assert np.allclose(weights.numpy()[:3], reference) and float(weights[3]) == 0.0
    logits = torch.tensor([[1.0, 0.0, -1.0, 0.0], [0.0, 2.0, 0.0, 0.0]], requires_grad=True)
    target = torch.tensor([0, 1])
    log_p = torch.log_softmax(logits.detach(), 1)
    w0, w1 = float(weights[0]), float(weights[1])
    expected = -(w0 * log_p[0, 0] + w1 * log_p[1, 1]) / (w0 + w1)
    loss = losses.weighted_cross_entropy(logits, target, weights)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    _grad_ok(loss, logits)


def test_focal_loss_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
                          requires_grad=True)
    target = torch.tensor([0, 2, -100])
    p = torch.softmax(logits.detach(), 1)
    p0, p1 = float(p[0, 0]), float(p[1, 2])
    expected = np.mean([-0.25 * (1 - q) ** 2 * math.log(q) for q in (p0, p1)])
    loss = losses.focal_loss(logits, target)
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    _grad_ok(loss, logits)


def test_l1_and_mse_ssim() -> None:
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 1, (32, 32)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    pred = torch.from_numpy(a)[None, None].requires_grad_()
    truth = torch.from_numpy(b)[None, None]
    l1 = float(losses.l1_loss(pred, truth).detach())
    assert l1 == pytest.approx(np.abs(a - b).mean(), rel=1e-5)
    reference = structural_similarity(a.astype(np.float64), b.astype(np.float64),
                                      data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
    assert metrics.ssim(a, b) == pytest.approx(reference, abs=1e-12)  # the one SSIM
    assert float(losses.ssim(pred, truth).detach()) == pytest.approx(reference, abs=1e-4)
    loss = losses.mse_ssim_loss(pred, truth)
    expected = 0.8 * np.mean((a - b) ** 2) + 0.2 * (1 - reference)
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-4)
    _grad_ok(loss, pred)
    assert float(losses.ssim(truth, truth)) == pytest.approx(1.0, abs=1e-6)


def test_gradient_reversal_and_schedule() -> None:
    assert losses.grl_lambda(0.0) == 0.0
    assert losses.grl_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert losses.grl_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = losses.grad_reverse(x, 0.3)
    assert torch.equal(y, x)
    (grad,) = torch.autograd.grad((y * torch.tensor([2.0, 5.0])).sum(), x)
    assert torch.allclose(grad, torch.tensor([-0.6, -1.5]))
    head = losses.DomainAdversarialHead(4, 3, hidden=8).eval()
    features = torch.randn(5, 4, requires_grad=True)
    domains = torch.tensor([0, 1, 2, 0, 1])
    domain_loss = torch.nn.functional.cross_entropy(head(features, 1.0), domains)
    (g_rev,) = torch.autograd.grad(domain_loss, features, retain_graph=True)
    plain = torch.nn.functional.cross_entropy(head.classifier(features), domains)
    (g_plain,) = torch.autograd.grad(plain, features)
    assert torch.allclose(g_rev, -g_plain)


def test_registry_lists_valid_names() -> None:
    assert losses.get_loss("focal_tversky") is losses.focal_tversky_loss
    with pytest.raises(KeyError, match="valid: bce"):
        losses.get_loss("dice_focal")
