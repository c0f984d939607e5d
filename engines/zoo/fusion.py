"""The Image-Shape Fusion Transformer (paper B.12) and its Table 7 ablations.

An image token (a timm backbone's pooled features projected to ``d_model``) and one token per
shape descriptor (each scalar projected to ``d_model``) go through a Transformer encoder; the
per-head classifiers read the fused image token. ``mode`` selects the ablations:

- ``full``: image token + shape tokens, joint self-attention.
- ``image_only``: the image token alone through the encoder.
- ``shape_only``: a learned summary token + shape tokens; the image is ignored.
- ``no_fusion``: both pathways, each summarised on its own (shape tokens attend only to each
  other), concatenated; no cross-modal attention.
- ``no_transformer``: both modalities concatenated and mixed by an MLP instead of attention.

``embedding=True`` returns, after the logits, the backbone's pooled image features and its
early stages' channel statistics (for ``shape_only``, which has no backbone, the fused
representation twice).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from engines.zoo.blocks import backbone_features, check_heads, pooled_width, with_embedding

MODES = ("full", "image_only", "shape_only", "no_fusion", "no_transformer")


def _encoder(d_model: int, n_heads: int, n_layers: int, ff_dim: int, dropout: float) -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        d_model, n_heads, ff_dim, dropout, activation="gelu", batch_first=True
    )
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


class ShapeTokens(nn.Module):
    """Project each of ``n`` scalars to its own ``d_model`` token: ``s_i * w_i + b_i``."""

    def __init__(self, n: int, d_model: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n, d_model) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n, d_model))

    def forward(self, shape: torch.Tensor) -> torch.Tensor:
        return shape.unsqueeze(-1) * self.weight + self.bias


class FusionTransformer(nn.Module):
    """Multi-head classifier fusing image and shape tokens.

    Args:
        heads: label -> number of classes, in output order.
        backbone: timm backbone name (``convnext_tiny`` in the paper).
        backbone_kwargs: timm overrides.
        n_shape: number of shape descriptors (9).
        d_model, n_heads, n_layers, ff_dim, dropout: the encoder (256, 4, 3, 512, 0.1).
        mode: one of :data:`MODES`.
        embedding: also return the pooled image features (last output).
    """

    def __init__(
        self,
        heads: Mapping[str, int],
        backbone: str = "convnext_tiny",
        backbone_kwargs: dict | None = None,
        n_shape: int = 9,
        d_model: int = 256,
        n_heads: int = 4,
        n_layers: int = 3,
        ff_dim: int = 512,
        dropout: float = 0.1,
        mode: str = "full",
        embedding: bool = False,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown fusion mode {mode!r}; valid: {', '.join(MODES)}")
        heads = check_heads(heads)
        self.mode = mode
        self.embedding = embedding
        self.head_names = tuple(heads)
        self.n_shape = n_shape
        if mode != "shape_only":
            import timm

            self.backbone = timm.create_model(
                backbone, pretrained=False, num_classes=0, **(backbone_kwargs or {})
            )
            self.image_proj = nn.Linear(pooled_width(self.backbone), d_model)
        if mode != "image_only":
            self.shape_tokens = ShapeTokens(n_shape, d_model)
        if mode == "no_transformer":
            self.mixer = nn.Sequential(
                nn.Linear((n_shape + 1) * d_model, ff_dim),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(ff_dim, d_model),
            )
        else:
            self.encoder = _encoder(d_model, n_heads, n_layers, ff_dim, dropout)
        if mode in ("shape_only", "no_fusion"):
            self.summary_token = nn.Parameter(torch.zeros(1, 1, d_model))
        if mode == "full":
            self.type_embed = nn.Parameter(torch.zeros(1, n_shape + 1, d_model))
        width = 2 * d_model if mode == "no_fusion" else d_model
        self.norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList(nn.Linear(width, n) for n in heads.values())

    def forward(
        self, image: torch.Tensor | None, shape: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        pooled, style, fused = self._fuse(image, shape)
        fused = self.norm(fused)
        return with_embedding(tuple(head(fused) for head in self.heads),
                              fused if pooled is None else pooled, style, self.embedding)

    def _fuse(self, image: torch.Tensor | None, shape: torch.Tensor | None
              ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """``(pooled backbone features, early-stage statistics, fused representation)``."""
        pooled = style = None
        if self.mode != "shape_only":
            if image is None:
                raise ValueError(f"fusion mode {self.mode!r} needs the image")
            pooled, style = backbone_features(self.backbone, image, self.embedding)
        return pooled, style, self._mix(pooled, shape)

    def _mix(self, pooled: torch.Tensor | None, shape: torch.Tensor | None) -> torch.Tensor:
        if pooled is not None:
            image_token = self.image_proj(pooled).unsqueeze(1)
        if self.mode == "image_only":
            return self.encoder(image_token)[:, 0]
        if shape is None:
            raise ValueError(f"fusion mode {self.mode!r} needs the shape features [B, 9]")
        shape_tokens = self.shape_tokens(shape)
        if self.mode == "full":
            tokens = torch.cat([image_token, shape_tokens], dim=1) + self.type_embed
            return self.encoder(tokens)[:, 0]
        if self.mode == "no_transformer":
            return self.mixer(torch.cat([image_token, shape_tokens], dim=1).flatten(1))
        summary = self.summary_token.expand(shape_tokens.shape[0], -1, -1)
        shape_summary = self.encoder(torch.cat([summary, shape_tokens], dim=1))[:, 0]
        if self.mode == "shape_only":
            return shape_summary
        return torch.cat([image_token[:, 0], shape_summary], dim=1)
