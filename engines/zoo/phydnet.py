"""PhyDNet (Le Guen & Thome, 2020): a PhyCell for physical dynamics + a residual ConvLSTM."""

from __future__ import annotations

import math

import torch
from torch import nn

from engines.zoo.blocks import ConvLSTMCell


def _conv_gn(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1),
        nn.GroupNorm(math.gcd(out_ch, 8), out_ch),
        nn.LeakyReLU(0.2, inplace=True),
    )


def _up_gn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), _conv_gn(in_ch, out_ch)
    )


class PhyCell(nn.Module):
    """Physics-constrained cell: a learned PDE step ``h~ = h + F(h)`` then a Kalman-like correction.

    ``F`` applies ``operators`` learned differential operators per channel (kernel ``kernel``).
    """

    def __init__(self, channels: int = 32, operators: int = 3, kernel: int = 3) -> None:
        super().__init__()
        inner = channels * operators
        self.physics = nn.Sequential(
            nn.Conv2d(channels, inner, kernel, padding=kernel // 2),
            nn.GroupNorm(channels, inner),
            nn.Conv2d(inner, channels, 1),
        )
        self.gate = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        predicted = h + self.physics(h)
        gain = torch.sigmoid(self.gate(torch.cat([x, predicted], dim=1)))
        return predicted + gain * (x - predicted)


class PhyDNet(nn.Module):
    """Encoder (to 1/4 size) -> PhyCell and ConvLSTM branches -> summed decoders -> sigmoid.

    Input height and width must be divisible by 4.
    """

    def __init__(
        self,
        enc_channels: int = 64,
        phys_channels: int = 32,
        res_channels: int = 32,
        operators: int = 3,
        kernel: int = 3,
    ) -> None:
        super().__init__()
        half = max(1, enc_channels // 2)
        self.phys_channels = phys_channels
        self.encoder = nn.Sequential(
            _conv_gn(1, half),
            _conv_gn(half, enc_channels, 2),
            _conv_gn(enc_channels, enc_channels, 2),
        )
        self.enc_phys = _conv_gn(enc_channels, phys_channels)
        self.enc_res = _conv_gn(enc_channels, res_channels)
        self.phycell = PhyCell(phys_channels, operators, kernel)
        self.convlstm = ConvLSTMCell(res_channels, res_channels, 3)
        self.dec_phys = _conv_gn(phys_channels, enc_channels)
        self.dec_res = _conv_gn(res_channels, enc_channels)
        self.decoder = nn.Sequential(
            _up_gn(enc_channels, enc_channels),
            _up_gn(enc_channels, half),
            nn.Conv2d(half, 1, 3, padding=1),
        )

    def forward(self, frames: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        physics = residual = None
        for t in range(frames.shape[1]):
            encoded = self.encoder(frames[:, t : t + 1])
            x_phys, x_res = self.enc_phys(encoded), self.enc_res(encoded)
            if physics is None or residual is None:
                physics = x_phys.mul(0.0)
                residual = self.convlstm.zero_state(x_res)
            physics = self.phycell(x_phys, physics)
            residual = self.convlstm(x_res, residual)
        assert physics is not None and residual is not None
        decoded = self.decoder(self.dec_phys(physics) + self.dec_res(residual[0]))
        return torch.sigmoid(decoded)
