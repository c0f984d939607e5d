"""Grad-CAM: right shapes on zoo-like backbones, and it finds the object that sets the label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
import typer
from torch import nn
from typer.testing import CliRunner

from tests.support import drawn_spheroid
from trainer.cli import explain as explain_command
from trainer.explain import GradCam, explain, find_cam_layer, grid_png

SIZE = 32


class TwoHeads(nn.Module):
    """An analytic two-head classifier (no training, so no floating-point luck).

    ``features`` turns the image into two indicator maps at half resolution: channel 0 is 1
    where a pixel is part of the square (> 0.5; the noise stays below 0.3), channel 1 where
    it is bright (> 0.8; a dim square is 0.6). The global average pool gives the fraction of
    the frame each covers, and each head thresholds one fraction. ``shape`` is ignored.
    """

    head_names = ("size", "brightness")
    LARGE_COVER = 0.07  # a 12 px square covers 36/256 cells, a 5 px one at most 9/256
    BRIGHT_COVER = 0.008  # any bright square covers >= 4/256 cells, a dim one none

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
        )
        self.size = nn.Linear(16, 2)
        self.brightness = nn.Linear(16, 2)
        with torch.no_grad():
            for module in (*self.features, self.size, self.brightness):
                for param in module.parameters():
                    param.zero_()
            ramp, first, second = self.features[0], self.features[2], self.features[4]
            for out, level in enumerate((0.45, 0.5, 0.75, 0.8)):  # ReLU(20 (x - level))
                ramp.weight[out, :, 1, 1] = 20.0 / 3.0
                ramp.bias[out] = -20.0 * level
            for out in (0, 1):  # clamp to [0, 1]: ramp(low) - ramp(high)
                first.weight[out, 2 * out, 1, 1] = 1.0
                first.weight[out, 2 * out + 1, 1, 1] = -1.0
                second.weight[out, out, 1, 1] = 1.0
            for out, (head, cover, gain) in enumerate((
                    (self.size, self.LARGE_COVER, 100.0),
                    (self.brightness, self.BRIGHT_COVER, 1000.0))):  # logits >= 3.5 from 0
                head.weight[1, out] = gain
                head.bias[1] = -gain * cover

    def forward(self, image: torch.Tensor, shape: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(image).mean(dim=(2, 3))
        return self.size(pooled), self.brightness(pooled)


def _square_batch(n: int, rng: np.random.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Noise with one square; labels: large (12 px) vs small (5 px), bright vs dim."""
    images = rng.uniform(0, 0.3, (n, SIZE, SIZE)).astype(np.float32)
    large, bright = rng.integers(0, 2, n), rng.integers(0, 2, n)
    for i in range(n):
        side = 5 + 7 * large[i]
        row, col = rng.integers(0, SIZE - side, 2)
        images[i, row:row + side, col:col + side] = 0.6 + 0.4 * bright[i]
    x = torch.from_numpy(images)[:, None].expand(-1, 3, -1, -1).contiguous()
    return x, torch.from_numpy(large.astype(np.int64)), torch.from_numpy(bright.astype(np.int64))


def _checked_model() -> TwoHeads:
    """The analytic model, checked: every held-out square right, and a small loss."""
    model = TwoHeads().eval()
    x, large, bright = _square_batch(200, np.random.default_rng(0))
    with torch.no_grad():
        a, b = model(x)
    loss = nn.functional.cross_entropy(a, large) + nn.functional.cross_entropy(b, bright)
    assert (a.argmax(1) == large).all() and (b.argmax(1) == bright).all()
    assert float(loss) < 0.1, float(loss)
    return model


@pytest.fixture(scope="module")
def trained() -> TwoHeads:
    return _checked_model()


def _square_image() -> tuple[np.ndarray, torch.Tensor]:
    image = np.random.default_rng(5).uniform(0, 0.3, (SIZE, SIZE)).astype(np.float32)
    image[3:13, 19:29] = 1.0
    return image, torch.from_numpy(image)[None, None].expand(1, 3, -1, -1).contiguous()


def _cams(model: TwoHeads, x: torch.Tensor) -> list:
    return explain(model, (x, torch.zeros(1, 9)), TwoHeads.head_names,
                   {"size": ("small", "large"), "brightness": ("dim", "bright")})


def test_fixture_and_cams_do_not_depend_on_the_thread_count() -> None:
    threads = torch.get_num_threads()
    runs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            runs.append(_cams(_checked_model(), _square_image()[1]))
    finally:
        torch.set_num_threads(threads)
    one, two = runs
    assert [c.label for c in one] == [c.label for c in two] == ["large", "bright"]
    for a, b in zip(one, two, strict=True):
        assert abs(a.confidence - b.confidence) < 1e-4
        np.testing.assert_allclose(a.cam, b.cam, atol=1e-4)


def test_gradcam_highlights_the_square(trained: TwoHeads, tmp_path: Path) -> None:
    image, x = _square_image()
    cams = _cams(trained, x)
    assert [c.label for c in cams] == ["large", "bright"]
    inside = np.zeros((SIZE, SIZE), bool)
    inside[3:13, 19:29] = True
    near = np.zeros((SIZE, SIZE), bool)
    near[1:15, 17:31] = True
    for cam in cams:
        assert cam.cam.shape == (SIZE, SIZE) and cam.cam.min() >= 0.0 and cam.cam.max() == 1.0
        assert 0.5 < cam.confidence <= 1.0
        assert cam.cam[inside].mean() > 3 * cam.cam[~near].mean(), cam.head
        peak = np.unravel_index(np.argmax(cam.cam), cam.cam.shape)
        assert near[peak], (cam.head, peak)
    out = grid_png(image, cams, tmp_path / "grid.png", title="square")
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 5000


def test_layer_is_the_last_feature_map(trained: TwoHeads) -> None:
    x = torch.rand(1, 3, SIZE, SIZE)
    assert find_cam_layer(trained, x) in ("features", "features.5")


@pytest.mark.parametrize(("name", "kwargs", "size"), [
    ("convnext_tiny", {"depths": [1, 1, 1, 1], "dims": [8, 16, 24, 32]}, 64),
    ("vit_base_patch16_224", {"img_size": 32, "embed_dim": 32, "depth": 2, "num_heads": 2}, 32),
    ("coatnet_0_224", {"img_size": 64, "embed_dim": [8, 16, 24, 32], "depths": [1, 1, 1, 1],
                       "stem_width": 8, "transformer_dim_head": 8}, 64),
])
def test_gradcam_on_zoo_backbones(name: str, kwargs: dict, size: int) -> None:
    import timm

    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=3, **kwargs)
    x = torch.rand(1, 3, size, size)
    layer = find_cam_layer(model, x)
    cams, logits = GradCam(model, layer).maps(x)
    assert len(cams) == 1 and cams[0].shape == (size, size) and logits[0].shape == (1, 3)
    assert np.isfinite(cams[0]).all() and cams[0].max() <= 1.0
    if name.startswith("vit"):
        assert "blocks" in layer  # tokens reshaped to the 2x2 patch grid, CLS dropped


def _explain_cli() -> typer.Typer:
    app = typer.Typer()
    app.command()(explain_command)
    return app


def test_explain_command_refuses_a_folder_that_is_not_a_bundle(tmp_path: Path) -> None:
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, drawn_spheroid(64))
    result = CliRunner().invoke(_explain_cli(), [str(image), "--bundle", str(tmp_path)],
                                env={"COLUMNS": "250"})
    assert result.exit_code != 0 and "not an engine bundle" in result.output


@pytest.mark.slow
def test_explain_command_on_an_exported_zoo_bundle(tmp_path: Path) -> None:
    from engines.bundle import HeadSpec
    from engines.export import export_bundle
    from engines.zoo import create_model

    heads = {"cell_line": 2, "culture_medium": 3}
    model = create_model("test_convnext_tiny_ipp", heads=heads)
    export_bundle(
        model, "test_convnext_tiny_ipp", "ipp", tmp_path / "bundle",
        sample_inputs={"image": np.random.rand(2, 3, 64, 64).astype(np.float32),
                       "shape": np.zeros((2, 9), np.float32)},
        output_names=list(heads), size=(64, 64), model_kwargs={"heads": heads},
        heads=[HeadSpec(name="cell_line", labels=("HCT116", "MCF7")),
               HeadSpec(name="culture_medium", labels=("DMEMLG", "DMEMHG", "RPMI"))],
        shape_stats=([0.0] * 9, [1.0] * 9))
    image = tmp_path / "well.tif"
    tifffile.imwrite(image, drawn_spheroid(128))
    out = tmp_path / "grid.png"
    result = CliRunner().invoke(_explain_cli(), [str(image), "--bundle", str(tmp_path / "bundle"),
                                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "cell_line: " in result.output and out.read_bytes()[:4] == b"\x89PNG"
