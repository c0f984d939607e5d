"""Tiny models of each task exported as real bundles (untrained; shapes are what matter).

The zoo's ``test_*`` variants are used when the zoo is importable; otherwise small local
modules with the zoo's forward signatures stand in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from engines.bundle import Bundle, Calibration, HeadSpec  # noqa: E402
from engines.export import export_bundle  # noqa: E402

HEADS = (HeadSpec(name="cell_line", labels=("HCT116", "MCF7", "U87")),
         HeadSpec(name="seeding_density", labels=("1000", "2000", "4000", "8000"), ordinal=True))


class TinySeg(nn.Module):
    """x[B,3,H,W] -> logits[B,1,H,W]: dark, textured regions score high."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        return self.body(x)


class TinyIPP(nn.Module):
    """forward(image[B,3,S,S], shape[B,9]) -> one logits tensor per head."""

    head_names = tuple(h.name for h in HEADS)

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.shape = nn.Linear(9, 8)
        self.heads = nn.ModuleList(nn.Linear(16, len(h.labels)) for h in HEADS)

    def forward(self, image, shape):
        z = torch.cat([self.conv(image).relu().mean((2, 3)), self.shape(shape)], 1)
        return tuple(head(z) for head in self.heads)


class TinyNext(nn.Module):
    """forward(frames[B,2,H,W], meta[B,2]) -> [B,1,H,W] (meta: log density, gap in days)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 3, padding=1)
        self.film = nn.Linear(2, 1)

    def forward(self, frames, meta):
        return torch.sigmoid(self.conv(frames) + self.film(meta)[:, :, None, None])


def _seed() -> None:
    torch.manual_seed(0)


def segmentation_bundle(folder: Path, size: int = 64) -> Bundle:
    _seed()
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    return export_bundle(TinySeg(), "tiny_seg", "segmentation", folder,
                         sample_inputs={"image": x}, output_names=["logits"],
                         size=(size, size), threshold=0.5, command="pytest tiny_bundles")


def ipp_bundle(folder: Path, size: int = 32) -> Bundle:
    _seed()
    rng = np.random.default_rng(1)
    inputs = {"image": rng.normal(size=(2, 3, size, size)).astype(np.float32),
              "shape": rng.normal(size=(2, 9)).astype(np.float32)}
    stats = ([5000.0, 250, 0.3, 0.95, 0.7, 80, 90, 70, 0.9], [2000.0, 50, 0.1, 0.02, 0.05,
                                                               10, 12, 10, 0.05])
    cal = Calibration(temperature={"cell_line": 1.5, "seeding_density": 0.8},
                      conformal={"cell_line": {"0.01": 0.97}})
    return export_bundle(TinyIPP(), "tiny_ipp", "ipp", folder, sample_inputs=inputs,
                         output_names=list(TinyIPP.head_names), size=(size, size), heads=HEADS,
                         shape_stats=stats, calibration=cal, command="pytest tiny_bundles")


def nextframe_bundle(folder: Path, size: int = 32) -> Bundle:
    _seed()
    rng = np.random.default_rng(2)
    inputs = {"frames": rng.uniform(size=(2, 2, size, size)).astype(np.float32),
              "meta": rng.normal(size=(2, 2)).astype(np.float32)}
    return export_bundle(TinyNext(), "tiny_next", "nextframe", folder, sample_inputs=inputs,
                         output_names=["next"], size=(size, size), channels=1,
                         context_frames=2, meta_fields=("log_density", "gap_days"),
                         command="pytest tiny_bundles")
