"""Inverse protocol prediction (IPP): multi-head classifiers on timm backbones (B.9-B.11).

Every IPP model is built with ``heads`` (label -> number of classes, in order), has a
``head_names`` attribute, and is called as ``forward(image [B, 3, H, W], shape [B, 9] | None)``
returning one logits tensor per head, in ``head_names`` order. Image-only models ignore
``shape``. Built with ``embedding=True`` a model also returns, after the logits, its
backbone's pooled features ``[B, D]`` (ONNX output ``embedding``: replicate evidence) and its
early stages' channel statistics (``ood_features``: the out-of-distribution score). This
module also registers the fusion (:mod:`fusion`) and HMTT (:mod:`hmtt`) models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from engines.zoo.blocks import backbone_features, check_heads, pooled_width, with_embedding
from engines.zoo.fusion import FusionTransformer
from engines.zoo.hmtt import HierarchicalMultiTaskTransformer
from engines.zoo.registry import register_model

#: The paper's nine heads (B.9 order) with the SLiMIA vocabulary sizes; real engines pass the
#: vocabularies of their training data instead.
SLIMIA_HEADS: dict[str, int] = {
    "microscope": 9,
    "cell_line": 48,
    "culture_medium": 8,
    "formation_method": 5,
    "seeding_density": 32,
    "timepoint": 109,
    "biological_rep": 8,
    "technical_rep": 24,
    "magnification": 3,
}
#: HMTT's causal label order (B.13).
HMTT_ORDER = (
    "cell_line",
    "culture_medium",
    "seeding_density",
    "magnification",
    "microscope",
    "timepoint",
    "biological_rep",
    "technical_rep",
)
TEST_HEADS: dict[str, int] = {"cell_line": 4, "culture_medium": 3, "seeding_density": 5}


class MultiHeadClassifier(nn.Module):
    """A timm backbone's pooled features -> dropout -> one linear classifier per head.

    ``embedding=True``: the pooled features and early-stage statistics follow the logits.
    """

    def __init__(
        self,
        heads: Mapping[str, int],
        backbone: str = "convnext_tiny",
        backbone_kwargs: dict | None = None,
        dropout: float = 0.0,
        embedding: bool = False,
    ) -> None:
        super().__init__()
        import timm

        heads = check_heads(heads)
        self.head_names = tuple(heads)
        self.embedding = embedding
        self.backbone = timm.create_model(
            backbone, pretrained=False, num_classes=0, **(backbone_kwargs or {})
        )
        self.dropout = nn.Dropout(dropout)
        width = pooled_width(self.backbone)
        self.heads = nn.ModuleList(nn.Linear(width, n) for n in heads.values())

    def forward(
        self, image: torch.Tensor, shape: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        pooled, style = backbone_features(self.backbone, image, self.embedding)
        features = self.dropout(pooled)
        return with_embedding(tuple(head(features) for head in self.heads), pooled, style,
                              self.embedding)


_IPP: dict[str, Any] = {"task": "ipp", "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
_TINY_CONVNEXT = {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]}
_TINY_VIT = {"img_size": 32, "embed_dim": 32, "depth": 2, "num_heads": 2}
_TINY_COATNET = {
    "img_size": 64,
    "embed_dim": [8, 16, 24, 32],
    "depths": [1, 1, 1, 1],
    "stem_width": 8,
    "transformer_dim_head": 8,
}


def _classifier(backbone: str, backbone_kwargs: dict, heads: dict) -> dict:
    return {"backbone": backbone, "backbone_kwargs": backbone_kwargs, "heads": heads}


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="paper",
    paper_section="B.9",
    input_size=(224, 224),
    defaults=_classifier("convnext_tiny", {}, SLIMIA_HEADS),
)
def convnext_tiny_ipp(**kwargs: Any) -> nn.Module:
    """ConvNeXt-Tiny with one classifier per label (paper B.9)."""
    return MultiHeadClassifier(**kwargs)


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="test",
    paper_section="B.9",
    input_size=(64, 64),
    defaults=_classifier("convnext_tiny", _TINY_CONVNEXT, TEST_HEADS),
)
def test_convnext_tiny_ipp(**kwargs: Any) -> nn.Module:
    """Toy ConvNeXt multi-head classifier."""
    return MultiHeadClassifier(**kwargs)


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="paper",
    paper_section="B.10",
    input_size=(224, 224),
    defaults=_classifier("vit_base_patch16_224", {}, SLIMIA_HEADS),
)
def vit_b16_ipp(**kwargs: Any) -> nn.Module:
    """ViT-B/16 with one classifier per label (paper B.10)."""
    return MultiHeadClassifier(**kwargs)


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="test",
    paper_section="B.10",
    input_size=(32, 32),
    defaults=_classifier("vit_base_patch16_224", _TINY_VIT, TEST_HEADS),
)
def test_vit_b16_ipp(**kwargs: Any) -> nn.Module:
    """Toy ViT multi-head classifier."""
    return MultiHeadClassifier(**kwargs)


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="paper",
    paper_section="B.11",
    input_size=(224, 224),
    defaults=_classifier("coatnet_0_224", {}, SLIMIA_HEADS),
)
def coatnet0_ipp(**kwargs: Any) -> nn.Module:
    """CoAtNet-0 with one classifier per label (paper B.11)."""
    return MultiHeadClassifier(**kwargs)


@register_model(
    **_IPP,
    architecture="multihead_classifier",
    tier="test",
    paper_section="B.11",
    input_size=(64, 64),
    defaults=_classifier("coatnet_0_224", _TINY_COATNET, TEST_HEADS),
)
def test_coatnet0_ipp(**kwargs: Any) -> nn.Module:
    """Toy CoAtNet multi-head classifier."""
    return MultiHeadClassifier(**kwargs)


# ---- Image-Shape Fusion Transformer (B.12) and its Table 7 ablations -----------------------

_TINY_FUSION = {"d_model": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32}


def _register_fusion(mode: str, name: str, section: str) -> None:
    uses_image = mode != "shape_only"
    uses_shape = mode != "image_only"
    paper = {**_classifier("convnext_tiny", {}, SLIMIA_HEADS), "mode": mode}
    tiny = {
        **_classifier("convnext_tiny", _TINY_CONVNEXT, TEST_HEADS),
        **_TINY_FUSION,
        "mode": mode,
    }
    for tier, prefix, size, defaults in (
        ("paper", "", (224, 224), paper),
        ("test", "test_", (64, 64), tiny),
    ):

        def factory(**kwargs: Any) -> nn.Module:
            return FusionTransformer(**kwargs)

        factory.__name__ = f"{prefix}{name}"
        factory.__doc__ = f"Image-Shape Fusion Transformer, mode {mode!r} ({tier} size)."
        register_model(
            **_IPP,
            architecture="fusion_transformer",
            tier=tier,
            paper_section=section,
            input_size=size,
            uses_image=uses_image,
            uses_shape=uses_shape,
            defaults=defaults,
        )(factory)


_register_fusion("full", "fusion_transformer", "B.12")
for _mode in ("image_only", "shape_only", "no_fusion", "no_transformer"):
    _register_fusion(_mode, f"fusion_{_mode}", "C")


@register_model(
    **_IPP,
    architecture="fusion_transformer",
    tier="cpu",
    paper_section="B.12",
    input_size=(224, 224),
    uses_shape=True,
    defaults={**_classifier("efficientnet_b0", {}, SLIMIA_HEADS), "mode": "full"},
)
def fusion_cpu(**kwargs: Any) -> nn.Module:
    """The fusion transformer on EfficientNet-B0: the default CPU IPP engine."""
    return FusionTransformer(**kwargs)


# ---- HMTT (B.13) ---------------------------------------------------------------------------


@register_model(
    **_IPP,
    architecture="hmtt",
    tier="paper",
    paper_section="B.13",
    input_size=(224, 224),
    teacher_forcing=True,
    defaults=_classifier(
        "vit_base_patch16_224", {}, {label: SLIMIA_HEADS[label] for label in HMTT_ORDER}
    ),
)
def hmtt(**kwargs: Any) -> nn.Module:
    """ViT-B/16 with heads conditioned on the previous heads' choices (paper B.13)."""
    return HierarchicalMultiTaskTransformer(**kwargs, order=HMTT_ORDER)


@register_model(
    **_IPP,
    architecture="hmtt",
    tier="test",
    paper_section="B.13",
    input_size=(32, 32),
    teacher_forcing=True,
    defaults={
        **_classifier("vit_base_patch16_224", _TINY_VIT, {**TEST_HEADS, "timepoint": 6}),
        "embed_dim": 8,
    },
)
def test_hmtt(**kwargs: Any) -> nn.Module:
    """Toy HMTT."""
    return HierarchicalMultiTaskTransformer(**kwargs, order=HMTT_ORDER)
