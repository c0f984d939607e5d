"""RefineNet (Lin et al., 2017) on a timm ResNet's four feature levels."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from engines.zoo.blocks import timm_features


class ResidualConvUnit(nn.Module):
    """RCU: ReLU-Conv3x3-ReLU-Conv3x3 plus identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ChainedResidualPooling(nn.Module):
    """CRP: a chain of (5x5 max-pool, stride 1 -> Conv3x3) blocks, each output added."""

    def __init__(self, channels: int, blocks: int = 4) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(5, stride=1, padding=2)
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        path = x
        for conv in self.convs:
            path = conv(self.pool(path))
            x = x + path
        return x


class RefineBlock(nn.Module):
    """Adapt each input with 2 RCUs, fuse at the finest resolution, CRP, one output RCU."""

    def __init__(self, in_channels: tuple[int, ...], features: int) -> None:
        super().__init__()
        self.adapt = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, features, 3, padding=1, bias=False),
                ResidualConvUnit(features),
                ResidualConvUnit(features),
            )
            for c in in_channels
        )
        self.fuse = nn.ModuleList(
            nn.Conv2d(features, features, 3, padding=1, bias=False) for _ in in_channels
        )
        self.crp = ChainedResidualPooling(features)
        self.out = ResidualConvUnit(features)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        size = inputs[0].shape[-2:]
        fused = None
        for x, adapt, fuse in zip(inputs, self.adapt, self.fuse, strict=True):
            y = fuse(adapt(x))
            if y.shape[-2:] != size:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            fused = y if fused is None else fused + y
        assert fused is not None
        return self.out(self.crp(fused))


class RefineNet(nn.Module):
    """Four-cascade RefineNet over a timm backbone's stride 4/8/16/32 features.

    Args:
        backbone: a timm model name with ``features_only`` support (``resnet34``).
        features: channels inside the refine blocks (doubled for the coarsest one).
        backbone_kwargs: extra timm kwargs.
    """

    def __init__(
        self,
        backbone: str = "resnet34",
        features: int = 256,
        backbone_kwargs: dict | None = None,
    ) -> None:
        super().__init__()
        encoder = timm_features(backbone, (1, 2, 3, 4), backbone_kwargs)
        self.encoder = encoder
        c4, c8, c16, c32 = encoder.feature_info.channels()
        top = 2 * features
        self.refine32 = RefineBlock((c32,), top)
        self.refine16 = RefineBlock((c16, top), features)
        self.refine8 = RefineBlock((c8, features), features)
        self.refine4 = RefineBlock((c4, features), features)
        self.head = nn.Sequential(
            ResidualConvUnit(features), ResidualConvUnit(features), nn.Conv2d(features, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f4, f8, f16, f32 = self.encoder(x)
        y = self.refine32(f32)
        y = self.refine16(f16, y)
        y = self.refine8(f8, y)
        y = self.refine4(f4, y)
        logits = self.head(y)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
