"""Small building blocks shared by several zoo architectures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


def timm_features(backbone: str, out_indices: Sequence[int],
                  backbone_kwargs: Mapping[str, Any] | None = None) -> Any:
    """A timm backbone returning feature maps at ``out_indices`` (never downloads weights)."""
    import timm

    return timm.create_model(backbone, pretrained=False, features_only=True,
                             out_indices=tuple(out_indices), **dict(backbone_kwargs or {}))


class ConvBnAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3) -> None:
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(inplace=True),
        )


class DoubleConv(nn.Sequential):
    """Two :class:`ConvBnAct` (the U-Net block)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(ConvBnAct(in_ch, out_ch), ConvBnAct(out_ch, out_ch))


class UpConvBlock(nn.Module):
    """Upsample x2 (bilinear), concatenate a skip, then :class:`DoubleConv`."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_ch + skip_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        size = skip.shape[-2:] if skip is not None else (x.shape[-2] * 2, x.shape[-1] * 2)
        x = nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv(x)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell (Shi et al., 2015): all four gates from one convolution."""

    def __init__(self, in_ch: int, hidden: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_ch + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def zero_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c) shaped like ``x``'s batch and spatial size (export-friendly)."""
        zeros = x[:, :1].mul(0.0).expand(-1, self.hidden, -1, -1)
        return zeros, zeros


def check_heads(heads: Mapping[str, int]) -> dict[str, int]:
    """Validate ``heads`` (non-empty, identifier-like names, at least 2 classes each)."""
    if not heads:
        raise ValueError("an IPP model needs at least one head")
    for label, classes in heads.items():
        if not label.isidentifier() or int(classes) < 2:
            raise ValueError(f"head {label!r}: need an identifier name and >= 2 classes")
    return {label: int(classes) for label, classes in heads.items()}


def pooled_width(backbone: nn.Module) -> int:
    """Width of a timm model's pooled output with ``num_classes=0`` (pre-logits if any)."""
    hidden = getattr(backbone, "head_hidden_size", None)
    width = hidden or backbone.num_features
    return int(width)  # type: ignore[arg-type]


#: The ONNX output name of an IPP model's pooled backbone features.
EMBEDDING_OUTPUT = "embedding"
#: The ONNX output with the early stages' channel statistics (out-of-distribution score).
OOD_OUTPUT = "ood_features"
#: Backbone stages whose feature maps give :data:`OOD_OUTPUT`.
OOD_STAGES = (0, 1)


def backbone_features(backbone: nn.Module, image: torch.Tensor, embedding: bool
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(pooled features, early-stage statistics or None)`` of a timm backbone.

    With ``embedding`` on, one pass gives the pooled features (exactly ``backbone(image)``)
    and, per channel of the feature maps of :data:`OOD_STAGES`, their spatial mean and
    standard deviation: low-level statistics that see a new microscope or real images
    long before the pooled features do (Lee et al. 2018 use such early layers too).
    """
    if not embedding:
        return backbone(image), None
    final, stages = backbone.forward_intermediates(  # type: ignore[operator]
        image, indices=list(OOD_STAGES))
    pooled = backbone.forward_head(final, pre_logits=True)  # type: ignore[operator]
    stats = [torch.cat([f.mean(dim=(2, 3)), f.std(dim=(2, 3), correction=0)], dim=1)
             for f in stages]
    return pooled, torch.cat(stats, dim=1)


def with_embedding(logits: tuple[torch.Tensor, ...], pooled: torch.Tensor,
                   style: torch.Tensor | None, embedding: bool) -> tuple[torch.Tensor, ...]:
    """``logits``, plus ``pooled`` and ``style`` (``[B, D]`` each) when ``embedding`` is on
    (``style`` falls back to ``pooled`` for a model without an image backbone)."""
    if not embedding:
        return logits
    return (*logits, pooled, pooled if style is None else style)
