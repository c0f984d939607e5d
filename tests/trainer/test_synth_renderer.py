"""Renderer and time series: determinism, speed, label effects, artefacts."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from edge_app.simulation.renderer import Artefacts, SpheroidRenderer
from edge_app.simulation.timeseries import identity_seed, render_series
from edge_app.simulation.vocab import ProtocolRow, Vocabulary, VocabularyError
from trainer.synth.atlas import AtlasStream

ROW = ProtocolRow("HCT116", "DMEMLG", "LiquidOverlay-ULA", 2000, 96.0, "Axiovert200M", "5X")


def test_same_seed_gives_identical_bytes_and_other_seeds_differ() -> None:
    renderer = SpheroidRenderer()
    a, b = renderer.render(ROW, 5), renderer.render(ROW, 5)
    c = renderer.render(ROW, 6)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    assert a.image.tobytes() != c.image.tobytes()
    assert not a.image.flags.writeable


def test_renders_at_least_20_images_per_second_at_512() -> None:
    stream = AtlasStream(seed=3, width=512)
    rows = [stream.row(i) for i in range(60)]
    renderer = SpheroidRenderer()
    renderer.render(rows[0], 0, (512, 512))  # warm caches
    start = time.perf_counter()
    for i, row in enumerate(rows):
        renderer.render(row, i, (512, 512))
    rate = len(rows) / (time.perf_counter() - start)
    assert rate >= 20.0, f"{rate:.1f} images/s"


def test_bit_depth_and_mask_follow_the_microscope() -> None:
    renderer = SpheroidRenderer()
    eight = renderer.render(ROW.with_labels(microscope="IncucyteS3", magnification="10X"), 1)
    twelve = renderer.render(ROW, 1)
    assert eight.image.dtype == np.uint8
    assert twelve.image.dtype == np.uint16 and twelve.image.max() <= 4095
    assert set(np.unique(twelve.mask)) == {0, 255}
    inside = twelve.image[twelve.mask > 0].mean()
    assert inside < 0.85 * np.median(twelve.image[twelve.mask == 0])  # spheroid is darker


def test_density_and_medium_set_the_size() -> None:
    renderer = SpheroidRenderer()
    small = renderer.render(ROW.with_labels(seeding_density=1000), 1)
    large = renderer.render(ROW.with_labels(seeding_density=10000), 1)
    assert (large.mask > 0).sum() > 2.5 * (small.mask > 0).sum()


def test_time_series_keeps_identity_and_grows() -> None:
    identity = identity_seed(1, "plateX", "B3", 0)
    series = render_series(ROW, [0, 24, 72, 168], identity)
    areas = [int((s.mask > 0).sum()) for s in series]
    assert areas == sorted(areas) and areas[-1] > 1.5 * areas[0]
    centres = [np.argwhere(s.mask > 0).mean(axis=0) for s in series]
    assert np.ptp(np.asarray(centres), axis=0).max() < 10  # same place in the well
    other = render_series(ROW, [0], identity_seed(1, "plateX", "B4", 0))[0]
    assert other.mask.tobytes() != series[0].mask.tobytes()


def test_necrotic_core_darkens_the_centre_late() -> None:
    identity = identity_seed(2, "p", "A1", 0)
    early, late = render_series(ROW, [48, 240], identity)

    def core_ratio(sample: object) -> float:
        mask = sample.mask > 0  # type: ignore[attr-defined]
        depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        image = sample.image.astype(float)  # type: ignore[attr-defined]
        centre = image[depth > 0.7 * depth.max()].mean()
        ring = image[(depth > 0.3 * depth.max()) & (depth < 0.5 * depth.max())].mean()
        return float(centre / ring)

    assert core_ratio(late) < core_ratio(early) - 0.05


def test_artefacts_empty_debris_and_defocus() -> None:
    renderer = SpheroidRenderer()
    empty = renderer.render(ROW, 1, artefacts=Artefacts(empty=True))
    assert not empty.mask.any() and empty.diameter_um == 0.0
    sharp = renderer.render(ROW, 1)
    blurred = renderer.render(ROW, 1, artefacts=Artefacts(defocus_um=40.0))
    sharpness = [  # edge energy once the camera noise is smoothed away
        cv2.Laplacian(cv2.GaussianBlur(x.image.astype(np.float32), (0, 0), 2.0), cv2.CV_32F).var()
        for x in (sharp, blurred)
    ]
    assert sharpness[1] < 0.5 * sharpness[0]
    dirty = renderer.render(ROW, 1, artefacts=Artefacts(debris=50))

    def dark_outside(sample: object) -> int:
        pixels = sample.image.astype(float)[sample.mask == 0]  # type: ignore[attr-defined]
        return int((pixels < 0.8 * np.median(pixels)).sum())

    assert dark_outside(dirty) > dark_outside(sharp) + 100


def test_unknown_label_value_lists_the_valid_names() -> None:
    vocab = Vocabulary.default()
    assert vocab.canonical("cell_line", "hct-116") == "HCT116"
    with pytest.raises(VocabularyError, match="MCF10A"):
        vocab.canonical("cell_line", "HeLa")
