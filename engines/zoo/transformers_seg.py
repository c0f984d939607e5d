"""Transformer-encoder segmenters: Swin-UNet (paper B.4) and TransUNet (paper B.5)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from engines.zoo.blocks import UpConvBlock, timm_features


class ConvReluUp(nn.Sequential):
    """Conv3x3 -> ReLU -> optional bilinear x2 upsampling (the paper's decoder layer)."""

    def __init__(self, in_ch: int, out_ch: int, upsample: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True)]
        if upsample:
            layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
        super().__init__(*layers)


class SwinUNet(nn.Module):
    """A timm Swin encoder (stride 4..32 features) with a U-Net decoder back to full size.

    Args:
        backbone: timm Swin model name.
        backbone_kwargs: timm overrides (``img_size``, ``embed_dim``, ... for toy sizes).
        decoder_channels: five widths, coarse to fine (the last two upsample past stride 4).
    """

    def __init__(
        self,
        backbone: str = "swin_tiny_patch4_window7_224",
        backbone_kwargs: dict | None = None,
        decoder_channels: tuple[int, ...] | list[int] = (384, 192, 96, 64, 32),
    ) -> None:
        super().__init__()
        encoder = timm_features(backbone, (0, 1, 2, 3), backbone_kwargs)
        self.encoder = encoder
        c4, c8, c16, c32 = encoder.feature_info.channels()
        d16, d8, d4, d2, d1 = decoder_channels
        self.up16 = UpConvBlock(c32, c16, d16)
        self.up8 = UpConvBlock(d16, c8, d8)
        self.up4 = UpConvBlock(d8, c4, d4)
        self.up2 = UpConvBlock(d4, 0, d2)
        self.up1 = UpConvBlock(d2, 0, d1)
        self.head = nn.Conv2d(d1, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f4, f8, f16, f32 = self._features(x)
        y = self.up16(f32, f16)
        y = self.up8(y, f8)
        y = self.up4(y, f4)
        y = self.up1(self.up2(y))
        return self.head(y)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = self.encoder(x)
        channels = self.encoder.feature_info.channels()
        # timm Swin features are NHWC; bring them to NCHW.
        return [
            f if f.shape[1] == c else f.permute(0, 3, 1, 2).contiguous()
            for f, c in zip(features, channels, strict=True)
        ]


class TransUNet(nn.Module):
    """ViT encoder -> patch tokens as a feature map -> Conv-ReLU-Upsample decoder.

    For ViT-B/16 at 224: tokens ``[B, 196, 768]`` -> ``[B, 768, 14, 14]`` -> four x2 upsampling
    layers and a fifth Conv-ReLU -> 1x1 logits at 224.

    Args:
        backbone: timm ViT model name.
        backbone_kwargs: timm overrides (``img_size``, ``embed_dim``, ``depth``, ...).
        decoder_channels: five widths; the first log2(patch) layers upsample x2.
    """

    def __init__(
        self,
        backbone: str = "vit_base_patch16_224",
        backbone_kwargs: dict | None = None,
        decoder_channels: tuple[int, ...] | list[int] = (256, 128, 64, 32, 16),
    ) -> None:
        super().__init__()
        import timm

        encoder: Any = timm.create_model(
            backbone, pretrained=False, num_classes=0, **(backbone_kwargs or {})
        )
        self.encoder = encoder
        self.grid = tuple(encoder.patch_embed.grid_size)
        self.prefix = encoder.num_prefix_tokens
        patch = encoder.patch_embed.patch_size[0]
        n_up = int(math.log2(patch))
        if 2**n_up != patch or n_up > len(decoder_channels):
            raise ValueError(f"patch size {patch} needs {n_up} x2 layers (power of two)")
        widths = [encoder.num_features, *decoder_channels]
        self.decoder = nn.Sequential(
            *(
                ConvReluUp(a, b, upsample=i < n_up)
                for i, (a, b) in enumerate(itertools.pairwise(widths))
            )
        )
        self.head = nn.Conv2d(widths[-1], 1, 1)
        for module in self.decoder.modules():
            if isinstance(module, nn.Conv2d):
                # He init keeps the un-normalised Conv-ReLU stack from fading to a constant.
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.encoder.forward_features(x)[:, self.prefix :]
        grid = tokens.transpose(1, 2).unflatten(2, self.grid)
        logits = self.head(self.decoder(grid))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits
