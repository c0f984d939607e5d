"""Attention U-Net (Oktay et al., 2018): a U-Net whose skips pass through attention gates."""

from __future__ import annotations

import torch
from torch import nn

from engines.zoo.blocks import ConvBnAct, DoubleConv


class AttentionGate(nn.Module):
    """Additive attention gate: weights a skip by a map computed from it and the gating signal."""

    def __init__(self, gate_ch: int, skip_ch: int, inter_ch: int) -> None:
        super().__init__()
        self.theta = nn.Sequential(nn.Conv2d(skip_ch, inter_ch, 1), nn.BatchNorm2d(inter_ch))
        self.phi = nn.Sequential(nn.Conv2d(gate_ch, inter_ch, 1), nn.BatchNorm2d(inter_ch))
        self.psi = nn.Sequential(nn.Conv2d(inter_ch, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        attention = self.psi(torch.relu(self.theta(skip) + self.phi(gate)))
        return skip * attention


class AttentionUNet(nn.Module):
    """Five-level U-Net (filters ``base * 2**i``) with attention-gated skips; 1-channel logits.

    Input height and width must be divisible by 16.
    """

    def __init__(self, base: int = 64, in_chans: int = 3) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(5)]
        self.encoders = nn.ModuleList(
            DoubleConv(c_in, c_out)
            for c_in, c_out in zip([in_chans, *widths[:-1]], widths, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.ups = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for deep, shallow in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.ups.append(nn.Sequential(nn.Upsample(scale_factor=2), ConvBnAct(deep, shallow)))
            self.gates.append(AttentionGate(shallow, shallow, max(1, shallow // 2)))
            self.decoders.append(DoubleConv(2 * shallow, shallow))
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for index, encoder in enumerate(self.encoders):
            x = encoder(x if index == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, gate, decoder in zip(self.ups, self.gates, self.decoders, strict=True):
            skip = skips.pop()
            x = up(x)
            x = decoder(torch.cat([gate(x, skip), x], dim=1))
        return self.head(x)
