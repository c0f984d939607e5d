"""PredRNN++ (Wang et al., 2018) with spatiotemporal LSTM cells and a gradient highway unit."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SpatioTemporalLSTMCell(nn.Module):
    """ST-LSTM: a temporal memory ``c`` and a zigzag spatiotemporal memory ``m``.

    ``m`` arrives with ``m_in`` channels (from the layer below, or the top layer at the
    previous step) and is projected to ``hidden`` when the widths differ.
    """

    def __init__(self, in_ch: int, hidden: int, m_in: int, kernel: int = 3) -> None:
        super().__init__()
        pad = kernel // 2
        self.hidden = hidden
        self.m_proj = nn.Conv2d(m_in, hidden, 1) if m_in != hidden else nn.Identity()
        self.conv_x = nn.Conv2d(in_ch, 7 * hidden, kernel, padding=pad)
        self.conv_h = nn.Conv2d(hidden, 4 * hidden, kernel, padding=pad)
        self.conv_m = nn.Conv2d(hidden, 3 * hidden, kernel, padding=pad)
        self.conv_o = nn.Conv2d(2 * hidden, hidden, kernel, padding=pad)
        self.conv_last = nn.Conv2d(2 * hidden, hidden, 1)

    def forward(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, m: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = self.m_proj(m)
        i_x, f_x, g_x, i_xm, f_xm, g_xm, o_x = torch.chunk(self.conv_x(x), 7, dim=1)
        i_h, f_h, g_h, o_h = torch.chunk(self.conv_h(h), 4, dim=1)
        i_m, f_m, g_m = torch.chunk(self.conv_m(m), 3, dim=1)
        c = torch.sigmoid(f_x + f_h + 1.0) * c + torch.sigmoid(i_x + i_h) * torch.tanh(g_x + g_h)
        m = torch.sigmoid(f_xm + f_m + 1.0) * m + torch.sigmoid(i_xm + i_m) * torch.tanh(g_xm + g_m)
        memory = torch.cat([c, m], dim=1)
        h = torch.sigmoid(o_x + o_h + self.conv_o(memory)) * torch.tanh(self.conv_last(memory))
        return h, c, m


class GradientHighwayUnit(nn.Module):
    """GHU: ``z' = u * tanh(Wx + Wz) + (1 - u) * z`` with a learned switch ``u``."""

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv_x = nn.Conv2d(channels, 2 * channels, kernel, padding=kernel // 2)
        self.conv_z = nn.Conv2d(channels, 2 * channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        p_x, u_x = torch.chunk(self.conv_x(x), 2, dim=1)
        p_z, u_z = torch.chunk(self.conv_z(z), 2, dim=1)
        switch = torch.sigmoid(u_x + u_z)
        return switch * torch.tanh(p_x + p_z) + (1.0 - switch) * z


def _zeros(like: torch.Tensor, channels: int) -> torch.Tensor:
    return like[:, :1].mul(0.0).expand(-1, channels, -1, -1)


class PredRNNpp(nn.Module):
    """Two ST-LSTM layers with a GHU between them; a 1x1 conv decodes the top hidden state."""

    def __init__(self, hidden: Sequence[int] = (32, 64), kernel: int = 3) -> None:
        super().__init__()
        low, high = hidden
        self.hidden = (low, high)
        self.cell1 = SpatioTemporalLSTMCell(1, low, m_in=high, kernel=kernel)
        self.ghu = GradientHighwayUnit(low, kernel)
        self.cell2 = SpatioTemporalLSTMCell(low, high, m_in=low, kernel=kernel)
        self.decoder = nn.Conv2d(high, 1, 1)

    def forward(self, frames: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        low, high = self.hidden
        h1 = c1 = z = _zeros(frames, low)
        h2 = c2 = m = _zeros(frames, high)
        for t in range(frames.shape[1]):
            h1, c1, m = self.cell1(frames[:, t : t + 1], h1, c1, m)
            z = self.ghu(h1, z)
            h2, c2, m = self.cell2(z, h2, c2, m)
        return self.decoder(h2)
