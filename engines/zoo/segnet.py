"""SegNet (Badrinarayanan et al.): VGG-style encoder whose max-pool indices drive unpooling."""

from __future__ import annotations

import torch
from torch import nn

from engines.zoo.blocks import ConvBnAct


def _stack(in_ch: int, out_ch: int, depth: int, *, last_out: int | None = None) -> nn.Sequential:
    layers = []
    for index in range(depth):
        final = index == depth - 1
        target = last_out if (final and last_out is not None) else out_ch
        layers.append(ConvBnAct(in_ch if index == 0 else out_ch, target))
    return nn.Sequential(*layers)


class SegNet(nn.Module):
    """Encoder of five VGG blocks (widths ``base * (1, 2, 4, 8, 8)``), mirrored decoder.

    Args:
        base: width of the first block (64 for VGG-16).
        depths: convolutions per block (VGG-16: 2, 2, 3, 3, 3).
        in_chans: input channels.

    Input height and width must be divisible by 32.
    """

    def __init__(
        self,
        base: int = 64,
        depths: tuple[int, ...] | list[int] = (2, 2, 3, 3, 3),
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        widths = [base * m for m in (1, 2, 4, 8, 8)][: len(depths)]
        self.encoders = nn.ModuleList(
            _stack(c_in, c_out, depth)
            for c_in, c_out, depth in zip([in_chans, *widths[:-1]], widths, depths, strict=True)
        )
        self.decoders = nn.ModuleList(
            _stack(c, c, depth, last_out=c_next)
            for c, c_next, depth in zip(
                widths[::-1], [*widths[-2::-1], widths[0]], depths[::-1], strict=True
            )
        )
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.head = nn.Conv2d(widths[0], 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        indices = []
        for encoder in self.encoders:
            x, index = self.pool(encoder(x))
            indices.append(index)
        for decoder in self.decoders:
            index = indices.pop()
            size = (x.shape[-2] * 2, x.shape[-1] * 2)
            x = decoder(self.unpool(x, index, output_size=size))
        return self.head(x)
