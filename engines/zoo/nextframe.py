"""Next-frame forecasters (paper B.14-B.17) and their registrations.

Uniform call: ``forward(frames [B, T, H, W] in [0, 1] (T context frames, oldest first),
meta [B, M] | None) -> next frame [B, 1, H, W]``. Only MMFusionNet reads ``meta``:
``[one categorical index per configured label (as float), log10(seeding density),
gap_hours / 24]`` (see :func:`mmfusion_meta`); the others accept and ignore it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from engines.zoo.blocks import ConvLSTMCell, DoubleConv, UpConvBlock
from engines.zoo.phydnet import PhyDNet
from engines.zoo.predrnn import PredRNNpp
from engines.zoo.registry import register_model

#: MMFusionNet's default categorical labels (SLiMIA vocabulary sizes).
MMFUSION_CATEGORIES: dict[str, int] = {
    "cell_line": 48,
    "culture_medium": 8,
    "formation_method": 5,
    "microscope": 9,
}


def mmfusion_meta(
    categories: Sequence[int], seeding_density: float, gap_hours: float
) -> list[float]:
    """One MMFusionNet ``meta`` row: class indices, log10(cells seeded), gap in days."""
    return [float(i) for i in categories] + [
        math.log10(max(float(seeding_density), 1.0)),
        float(gap_hours) / 24.0,
    ]


class ConvLSTMForecaster(nn.Module):
    """One ConvLSTM layer over the context frames; a Conv2d decodes the last hidden state."""

    def __init__(self, hidden: int = 32, kernel: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(1, hidden, kernel)
        self.decoder = nn.Conv2d(hidden, 1, kernel, padding=kernel // 2)

    def forward(self, frames: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        state = self.cell.zero_state(frames)
        for t in range(frames.shape[1]):
            state = self.cell(frames[:, t : t + 1], state)
        return self.decoder(state[0])


class MMFusionNet(nn.Module):
    """U-Net on the stacked context frames, FiLM-conditioned at the bottleneck on metadata.

    Args:
        categories: label -> vocabulary size, one embedding each (order = ``meta`` columns).
        base: width of the first of 4 encoder blocks (doubling).
        bottleneck: bottleneck channels.
        embed_dim: categorical embedding size.
        n_continuous: continuous features after the indices (density, gap).
        fusion_dim: width of the metadata MLP.
        context: number of context frames.
    """

    def __init__(
        self,
        categories: Mapping[str, int] | None = None,
        base: int = 32,
        bottleneck: int = 256,
        embed_dim: int = 32,
        n_continuous: int = 2,
        fusion_dim: int = 256,
        context: int = 2,
    ) -> None:
        super().__init__()
        categories = dict(MMFUSION_CATEGORIES if categories is None else categories)
        self.category_names = tuple(categories)
        self.register_buffer(
            "category_max", torch.tensor([n - 1 for n in categories.values()]), persistent=False
        )
        widths = [base * 2**i for i in range(4)]
        self.encoders = nn.ModuleList(
            DoubleConv(a, b) for a, b in zip([context, *widths[:-1]], widths, strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-1], bottleneck)
        self.embeddings = nn.ModuleList(nn.Embedding(n, embed_dim) for n in categories.values())
        self.meta_mlp = nn.Sequential(
            nn.Linear(len(categories) * embed_dim + n_continuous, fusion_dim),
            nn.ReLU(),
            nn.Linear(fusion_dim, fusion_dim),
            nn.ReLU(),
        )
        self.film = nn.Linear(fusion_dim, 2 * bottleneck)
        self.decoders = nn.ModuleList(
            UpConvBlock(a, skip, skip)
            for a, skip in zip([bottleneck, *widths[:0:-1]], widths[::-1], strict=True)
        )
        self.head = nn.Conv2d(widths[0], 1, 1)

    def forward(self, frames: torch.Tensor, meta: torch.Tensor | None = None) -> torch.Tensor:
        if meta is None:
            raise ValueError("MMFusionNet needs meta [B, n_categories + 2]")
        skips = []
        x = frames
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        gamma, beta = self.film(self._condition(meta)).unsqueeze(-1).unsqueeze(-1).chunk(2, 1)
        x = self.bottleneck(x) * (1.0 + gamma) + beta
        for decoder in self.decoders:
            x = decoder(x, skips.pop())
        return torch.sigmoid(self.head(x))

    def _condition(self, meta: torch.Tensor) -> torch.Tensor:
        n = len(self.embeddings)
        indices = torch.minimum(meta[:, :n].round().clamp(min=0).long(), self.category_max)  # type: ignore[arg-type]
        parts = [embedding(indices[:, i]) for i, embedding in enumerate(self.embeddings)]
        return self.meta_mlp(torch.cat([*parts, meta[:, n:]], dim=1))


_NF: dict[str, Any] = {"task": "nextframe", "in_chans": 2, "mean": (0.0,), "std": (1.0,)}
_TEST_CATEGORIES = {"cell_line": 4, "culture_medium": 3}


@register_model(
    **_NF,
    architecture="convlstm",
    tier="paper",
    paper_section="B.14",
    input_size=(128, 128),
    defaults={"hidden": 32},
)
def convlstm(**kwargs: Any) -> nn.Module:
    """ConvLSTM, hidden 32, kernel 3, Conv2d decoder (paper B.14)."""
    return ConvLSTMForecaster(**kwargs)


@register_model(
    **_NF,
    architecture="convlstm",
    tier="cpu",
    paper_section="B.14",
    input_size=(128, 128),
    defaults={"hidden": 16},
)
def convlstm_cpu(**kwargs: Any) -> nn.Module:
    """ConvLSTM with hidden 16: the default CPU forecaster."""
    return ConvLSTMForecaster(**kwargs)


@register_model(
    **_NF,
    architecture="convlstm",
    tier="test",
    paper_section="B.14",
    input_size=(32, 32),
    defaults={"hidden": 4},
)
def test_convlstm(**kwargs: Any) -> nn.Module:
    """Toy ConvLSTM."""
    return ConvLSTMForecaster(**kwargs)


@register_model(
    **_NF,
    architecture="predrnnpp",
    tier="paper",
    paper_section="B.15",
    input_size=(128, 128),
    defaults={"hidden": [32, 64]},
)
def predrnnpp(**kwargs: Any) -> nn.Module:
    """PredRNN++: two ST-LSTM layers (32, 64) + gradient highway, 1x1 decoder (paper B.15)."""
    return PredRNNpp(**kwargs)


@register_model(
    **_NF,
    architecture="predrnnpp",
    tier="test",
    paper_section="B.15",
    input_size=(32, 32),
    defaults={"hidden": [4, 8]},
)
def test_predrnnpp(**kwargs: Any) -> nn.Module:
    """Toy PredRNN++."""
    return PredRNNpp(**kwargs)


@register_model(
    **_NF,
    architecture="mmfusionnet",
    tier="paper",
    paper_section="B.16",
    input_size=(128, 128),
    uses_meta=True,
    defaults={"categories": MMFUSION_CATEGORIES, "base": 32},
)
def mmfusionnet(**kwargs: Any) -> nn.Module:
    """MMFusionNet: FiLM U-Net conditioned on labels, density and time gap (paper B.16)."""
    return MMFusionNet(**kwargs)


@register_model(
    **_NF,
    architecture="mmfusionnet",
    tier="cpu",
    paper_section="B.16",
    input_size=(128, 128),
    uses_meta=True,
    defaults={"categories": MMFUSION_CATEGORIES, "base": 16, "bottleneck": 128},
)
def filmunet_cpu(**kwargs: Any) -> nn.Module:
    """MMFusionNet at base 16: a CPU-sized FiLM U-Net."""
    return MMFusionNet(**kwargs)


@register_model(
    **_NF,
    architecture="mmfusionnet",
    tier="test",
    paper_section="B.16",
    input_size=(32, 32),
    uses_meta=True,
    defaults={
        "categories": _TEST_CATEGORIES,
        "base": 4,
        "bottleneck": 16,
        "embed_dim": 4,
        "fusion_dim": 16,
    },
)
def test_mmfusionnet(**kwargs: Any) -> nn.Module:
    """Toy MMFusionNet."""
    return MMFusionNet(**kwargs)


@register_model(
    **_NF,
    architecture="phydnet",
    tier="paper",
    paper_section="B.17",
    input_size=(128, 128),
    defaults={
        "enc_channels": 64,
        "phys_channels": 32,
        "res_channels": 32,
        "operators": 3,
        "kernel": 3,
    },
)
def phydnet(**kwargs: Any) -> nn.Module:
    """PhyDNet: encoder, PhyCell + residual ConvLSTM, decoder (paper B.17)."""
    return PhyDNet(**kwargs)


@register_model(
    **_NF,
    architecture="phydnet",
    tier="test",
    paper_section="B.17",
    input_size=(32, 32),
    defaults={
        "enc_channels": 8,
        "phys_channels": 4,
        "res_channels": 4,
        "operators": 2,
        "kernel": 3,
    },
)
def test_phydnet(**kwargs: Any) -> nn.Module:
    """Toy PhyDNet."""
    return PhyDNet(**kwargs)
