import time

import numpy as np
import pytest

from engines.classical import ClassicalConfig, ClassicalSegmenter, SegmentationOutput
from engines.morphometry import shape_descriptors
from tests.support import drawn_spheroid


@pytest.fixture(scope="module")
def segmenter():
    return ClassicalSegmenter()


def _area_ratio(seg: SegmentationOutput, semi_y: float, semi_x: float) -> float:
    return shape_descriptors(seg.mask, seg.scale).area / (np.pi * semi_y * semi_x)


@pytest.mark.parametrize("dark", [True, False])
def test_one_ellipse_dark_or_bright(segmenter, draw, dark):
    seg = segmenter.segment(draw(objects=((250, 260, 60, 90),), dark=dark))
    assert seg.found and seg.n_objects == 1 and not seg.touches_border
    assert _area_ratio(seg, 60, 90) == pytest.approx(1.0, abs=0.1)
    shape = shape_descriptors(seg.mask, seg.scale)
    assert shape.major_axis == pytest.approx(180, rel=0.08)
    assert shape.eccentricity == pytest.approx(np.sqrt(1 - (60 / 90) ** 2), abs=0.05)


def test_large_frame_is_measured_in_original_pixels(segmenter, draw):
    frame = draw(size=(1536, 2048), objects=((700, 1100, 300, 300),))
    seg = segmenter.segment(frame)
    assert seg.scale == 4.0 and seg.mask.shape == (384, 512)
    assert _area_ratio(seg, 300, 300) == pytest.approx(1.0, abs=0.08)


def test_output_is_frozen_and_read_only(segmenter, draw):
    seg = segmenter.segment(draw())
    assert seg.mask.dtype == bool and not seg.mask.flags.writeable
    assert not seg.foreground.flags.writeable and seg.foreground[seg.mask].all()
    with pytest.raises(AttributeError):
        seg.found = False  # type: ignore[misc]


def test_two_comparable_objects_are_counted_and_centre_one_kept(segmenter, draw):
    seg = segmenter.segment(draw(objects=((256, 256, 60, 60), (100, 100, 50, 50))))
    assert seg.n_objects == 2
    rows, cols = np.nonzero(seg.mask)
    assert abs(rows.mean() - 256) < 5 and abs(cols.mean() - 256) < 5


def test_small_debris_is_not_a_second_object(segmenter, draw):
    seg = segmenter.segment(draw(objects=((256, 256, 80, 80), (60, 440, 10, 10))))
    assert seg.n_objects == 1 and seg.foreground.sum() > seg.mask.sum()


def test_object_cut_by_the_border_touches_it(segmenter, draw):
    seg = segmenter.segment(draw(objects=((256, 30, 90, 90),)))
    assert seg.found and seg.touches_border


def test_blur_lowers_focus(segmenter, draw):
    sharp = segmenter.segment(draw(seed=3))
    blurred = segmenter.segment(draw(seed=3, blur=3.0))
    assert blurred.found and sharp.focus > 0.2 and blurred.focus < 0.15


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((300, 300), np.uint16),
        np.full((300, 300), 1234, np.uint16),
        np.random.default_rng(0).normal(1000, 20, (300, 300)).astype(np.uint16),
        np.tile(np.linspace(800, 1200, 300), (300, 1)).astype(np.uint16),
    ],
    ids=["zeros", "uniform", "noise", "shading"],
)
def test_empty_frames_give_no_object(segmenter, frame):
    seg = segmenter.segment(frame)
    assert not seg.found and not seg.mask.any() and seg.n_objects == 0


def test_nan_float_frame_is_segmented(segmenter, draw):
    frame = draw(dtype=np.float32)
    frame[:40, :] = np.nan
    frame[300, :10] = np.inf
    seg = segmenter.segment(frame)
    assert seg.found and _area_ratio(seg, 80, 80) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("dtype", "background", "contrast"),
    [(np.uint8, 180, 60), (np.uint16, 2500, 900), (np.uint16, 40000, 12000)],
    ids=["8-bit", "12-bit", "16-bit"],
)
def test_bit_depths(segmenter, draw, dtype, background, contrast):
    frame = draw(dtype=dtype, background=background, contrast=contrast, noise=contrast / 50)
    seg = segmenter.segment(frame)
    assert seg.found and _area_ratio(seg, 80, 80) == pytest.approx(1.0, abs=0.1)


def test_shared_drawn_spheroid_fixture(segmenter):
    seg = segmenter.segment(drawn_spheroid(radius=50.0))
    assert (
        seg.found and seg.n_objects == 1 and _area_ratio(seg, 50, 50) == pytest.approx(1, abs=0.1)
    )
    assert not segmenter.segment(drawn_spheroid(empty=True)).found


def test_config_is_frozen_and_used():
    segmenter = ClassicalSegmenter(ClassicalConfig(max_side=128))
    assert segmenter.name == "classical"
    assert segmenter.segment(drawn_spheroid(size=512, radius=120)).mask.shape == (128, 128)
    with pytest.raises(AttributeError):
        segmenter.config.max_side = 3  # type: ignore[misc]


def test_2048_uint16_frame_is_fast(segmenter, draw):
    frame = draw(size=(2048, 2048), objects=((1000, 1100, 400, 380),))
    timings = []
    for _ in range(7):
        start = time.perf_counter()
        seg = segmenter.segment(frame)
        shape_descriptors(seg.mask, seg.scale)
        timings.append(time.perf_counter() - start)
    assert seg.found
    assert float(np.median(timings)) < 0.2  # target 40 ms on 2 cores; generous for noisy CI
