"""Segmentation models built from segmentation-models-pytorch, and their registrations.

Every segmentation model maps ``x [B, 3, H, W]`` to mask logits ``[B, 1, H, W]``. The
custom architectures live in :mod:`segnet`, :mod:`attention_unet`, :mod:`refinenet` and
:mod:`transformers_seg`; this module registers all of them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from engines.zoo.attention_unet import AttentionUNet
from engines.zoo.refinenet import RefineNet
from engines.zoo.registry import register_model
from engines.zoo.segnet import SegNet
from engines.zoo.transformers_seg import SwinUNet, TransUNet

_SMP_ARCHS = ("Unet", "UnetPlusPlus", "DeepLabV3", "DeepLabV3Plus")


def smp_model(arch: str, encoder_name: str, **kwargs: Any) -> nn.Module:
    """An smp ``arch`` with 3 input channels, 1 output class, no weights downloaded."""
    import segmentation_models_pytorch as smp

    if arch not in _SMP_ARCHS:
        raise ValueError(f"unknown smp architecture {arch!r}; valid: {', '.join(_SMP_ARCHS)}")
    for key in ("decoder_channels", "encoder_output_stride"):
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return getattr(smp, arch)(
        encoder_name=encoder_name, encoder_weights=None, in_channels=3, classes=1, **kwargs
    )


_SEG: dict[str, Any] = {"task": "segmentation"}
_TINY_SMP = {"encoder_name": "tu-test_resnet"}

# ---- U-Net++ (B.1) -------------------------------------------------------------------------


@register_model(
    **_SEG,
    architecture="unetplusplus",
    tier="paper",
    paper_section="B.1",
    input_size=(256, 256),
    defaults={"encoder_name": "resnet50"},
)
def unetpp_r50(**kwargs: Any) -> nn.Module:
    """U-Net++ with a ResNet-50 encoder (paper B.1)."""
    return smp_model("UnetPlusPlus", **kwargs)


@register_model(
    **_SEG,
    architecture="unetplusplus",
    tier="test",
    paper_section="B.1",
    input_size=(64, 64),
    defaults={**_TINY_SMP, "decoder_channels": [16, 8, 8, 4, 4]},
)
def test_unetpp_r50(**kwargs: Any) -> nn.Module:
    """Toy U-Net++ for tests."""
    return smp_model("UnetPlusPlus", **kwargs)


# ---- DeepLabV3 (B.2) and DeepLabV3+ (B.6) --------------------------------------------------


@register_model(
    **_SEG,
    architecture="deeplabv3",
    tier="paper",
    paper_section="B.2",
    input_size=(256, 256),
    defaults={"encoder_name": "resnet34"},
)
def deeplabv3_r34(**kwargs: Any) -> nn.Module:
    """DeepLabV3 with a ResNet-34 backbone (paper B.2)."""
    return smp_model("DeepLabV3", **kwargs)


@register_model(
    **_SEG,
    architecture="deeplabv3",
    tier="test",
    paper_section="B.2",
    input_size=(64, 64),
    defaults={**_TINY_SMP, "decoder_channels": 8},
)
def test_deeplabv3_r34(**kwargs: Any) -> nn.Module:
    """Toy DeepLabV3 for tests."""
    return smp_model("DeepLabV3", **kwargs)


@register_model(
    **_SEG,
    architecture="deeplabv3plus",
    tier="paper",
    paper_section="B.6",
    input_size=(256, 256),
    defaults={"encoder_name": "resnet50"},
)
def deeplabv3plus_r50(**kwargs: Any) -> nn.Module:
    """DeepLabV3+ with a ResNet-50 backbone (paper B.6)."""
    return smp_model("DeepLabV3Plus", **kwargs)


@register_model(
    **_SEG,
    architecture="deeplabv3plus",
    tier="test",
    paper_section="B.6",
    input_size=(64, 64),
    defaults={**_TINY_SMP, "decoder_channels": 8},
)
def test_deeplabv3plus_r50(**kwargs: Any) -> nn.Module:
    """Toy DeepLabV3+ for tests."""
    return smp_model("DeepLabV3Plus", **kwargs)


# ---- CPU-sized U-Nets ----------------------------------------------------------------------


@register_model(
    **_SEG,
    architecture="unet",
    tier="cpu",
    input_size=(256, 256),
    defaults={"encoder_name": "mobilenet_v2"},
)
def unet_mobilenetv2_cpu(**kwargs: Any) -> nn.Module:
    """U-Net with a MobileNetV2 encoder at 256 px: the default CPU segmenter."""
    return smp_model("Unet", **kwargs)


@register_model(
    **_SEG,
    architecture="unet",
    tier="cpu",
    input_size=(256, 256),
    defaults={"encoder_name": "resnet18"},
)
def unet_r18_cpu(**kwargs: Any) -> nn.Module:
    """U-Net with a ResNet-18 encoder at 256 px."""
    return smp_model("Unet", **kwargs)


@register_model(
    **_SEG,
    architecture="unet",
    tier="test",
    input_size=(64, 64),
    defaults={**_TINY_SMP, "decoder_channels": [16, 8, 8, 4, 4]},
)
def test_unet(**kwargs: Any) -> nn.Module:
    """Toy U-Net for tests."""
    return smp_model("Unet", **kwargs)


# ---- Attention U-Net (B.3), SegNet (B.8) ---------------------------------------------------


@register_model(
    **_SEG,
    architecture="attention_unet",
    tier="paper",
    paper_section="B.3",
    input_size=(256, 256),
    defaults={"base": 64},
)
def attention_unet(**kwargs: Any) -> nn.Module:
    """Attention U-Net (Oktay et al.), filters 64..1024 (paper B.3)."""
    return AttentionUNet(**kwargs)


@register_model(
    **_SEG,
    architecture="attention_unet",
    tier="test",
    paper_section="B.3",
    input_size=(32, 32),
    defaults={"base": 4},
)
def test_attention_unet(**kwargs: Any) -> nn.Module:
    """Toy Attention U-Net for tests."""
    return AttentionUNet(**kwargs)


@register_model(
    **_SEG,
    architecture="segnet",
    tier="paper",
    paper_section="B.8",
    input_size=(256, 256),
    defaults={"base": 64, "depths": [2, 2, 3, 3, 3]},
)
def segnet(**kwargs: Any) -> nn.Module:
    """SegNet with a VGG-16 style encoder and pooling-index unpooling (paper B.8)."""
    return SegNet(**kwargs)


@register_model(
    **_SEG,
    architecture="segnet",
    tier="test",
    paper_section="B.8",
    input_size=(32, 32),
    defaults={"base": 4, "depths": [1, 1, 2, 1, 1]},
)
def test_segnet(**kwargs: Any) -> nn.Module:
    """Toy SegNet for tests."""
    return SegNet(**kwargs)


# ---- RefineNet (B.7) -----------------------------------------------------------------------


@register_model(
    **_SEG,
    architecture="refinenet",
    tier="paper",
    paper_section="B.7",
    input_size=(256, 256),
    defaults={"backbone": "resnet34", "features": 256},
)
def refinenet_r34(**kwargs: Any) -> nn.Module:
    """RefineNet on ResNet-34 features: RCU, multi-resolution fusion, CRP (paper B.7)."""
    return RefineNet(**kwargs)


@register_model(
    **_SEG,
    architecture="refinenet",
    tier="test",
    paper_section="B.7",
    input_size=(64, 64),
    defaults={"backbone": "test_resnet", "features": 8},
)
def test_refinenet_r34(**kwargs: Any) -> nn.Module:
    """Toy RefineNet for tests."""
    return RefineNet(**kwargs)


# ---- Swin-UNet (B.4), TransUNet (B.5) ------------------------------------------------------

_SWIN_TINY = {
    "img_size": 64,
    "embed_dim": 16,
    "depths": [1, 1, 1, 1],
    "num_heads": [1, 1, 2, 2],
    "window_size": 2,
}


@register_model(
    **_SEG,
    architecture="swin_unet",
    tier="paper",
    paper_section="B.4",
    input_size=(224, 224),
    defaults={"backbone": "swin_tiny_patch4_window7_224", "backbone_kwargs": {}},
)
def swin_unet(**kwargs: Any) -> nn.Module:
    """Swin-Tiny encoder with a Conv-ReLU-Upsample U-Net decoder to 224 (paper B.4)."""
    return SwinUNet(**kwargs)


@register_model(
    **_SEG,
    architecture="swin_unet",
    tier="test",
    paper_section="B.4",
    input_size=(64, 64),
    defaults={
        "backbone": "swin_tiny_patch4_window7_224",
        "backbone_kwargs": _SWIN_TINY,
        "decoder_channels": [16, 8, 8, 4, 4],
    },
)
def test_swin_unet(**kwargs: Any) -> nn.Module:
    """Toy Swin-UNet for tests."""
    return SwinUNet(**kwargs)


@register_model(
    **_SEG,
    architecture="transunet",
    tier="paper",
    paper_section="B.5",
    input_size=(224, 224),
    defaults={"backbone": "vit_base_patch16_224", "backbone_kwargs": {}},
)
def transunet(**kwargs: Any) -> nn.Module:
    """ViT-B/16 encoder, tokens to a 14x14 map, 5 Conv-ReLU-Upsample layers (paper B.5)."""
    return TransUNet(**kwargs)


@register_model(
    **_SEG,
    architecture="transunet",
    tier="test",
    paper_section="B.5",
    input_size=(32, 32),
    defaults={
        "backbone": "vit_base_patch16_224",
        "backbone_kwargs": {"img_size": 32, "embed_dim": 32, "depth": 2, "num_heads": 2},
        "decoder_channels": [32, 16, 16, 8, 8],
    },
)
def test_transunet(**kwargs: Any) -> nn.Module:
    """Toy TransUNet for tests."""
    return TransUNet(**kwargs)
