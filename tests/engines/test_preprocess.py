import numpy as np
import pytest

from engines.preprocess import analysis_image, analysis_size, as_plane, normalise, to_model_input


@pytest.mark.parametrize(
    ("dtype", "top"), [(np.uint8, 255), (np.uint16, 4095), (np.uint16, 65535), (np.int32, 4095)]
)
def test_bit_depths_give_the_same_normalised_image(dtype, top):
    ramp = np.tile(np.linspace(0, 1, 1024), (256, 1))
    image, scale = analysis_image((ramp * top).astype(dtype), max_side=256)
    assert image.dtype == np.float32 and image.shape == (64, 256) and scale == 4.0
    assert image.min() == 0.0 and image.max() == 1.0
    np.testing.assert_allclose(image[0], np.linspace(0, 1, 256), atol=0.02)


def test_small_frames_are_not_enlarged():
    image, scale = analysis_image(np.arange(150 * 100, dtype=np.uint16).reshape(150, 100))
    assert image.shape == (150, 100) and scale == 1.0


def test_nan_and_inf_are_replaced_and_output_is_finite():
    frame = np.random.default_rng(0).normal(size=(600, 800)).astype(np.float32)
    frame[100:200, 100:200] = np.nan
    frame[300, :] = np.inf
    frame[400, :] = -np.inf
    image, scale = analysis_image(frame, max_side=400)
    assert np.isfinite(image).all() and image.shape == (300, 400) and scale == 2.0
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert 0.3 < float(np.median(image)) < 0.7


def test_uniform_and_all_nan_frames_become_zeros():
    assert not analysis_image(np.full((64, 64), 7, np.uint16))[0].any()
    assert not analysis_image(np.full((64, 64), np.nan))[0].any()


def test_percentiles_ignore_hot_pixels():
    frame = np.tile(np.linspace(100, 200, 200), (200, 1))
    frame[5, 5] = 1e9
    image = normalise(frame)
    assert image[:, 100].mean() == pytest.approx(0.5, abs=0.02)


def test_rgb_and_singleton_axes_become_one_plane():
    assert as_plane(np.zeros((1, 32, 48, 1))).shape == (32, 48)
    assert as_plane(np.zeros((32, 48, 3), np.uint8)).shape == (32, 48)
    with pytest.raises(ValueError, match="2-D plane"):
        as_plane(np.zeros((3, 32, 48)))


def test_analysis_size_rejects_tiny_max_side():
    assert analysis_size((2048, 1536), 512) == ((512, 384), 4.0)
    with pytest.raises(ValueError, match="max_side"):
        analysis_size((100, 100), 4)


def test_model_input_shape_and_standardisation():
    frame = (np.random.default_rng(1).random((300, 400)) * 4095).astype(np.uint16)
    tensor = to_model_input(frame, (224, 224), mean=0.5, std=0.25, channels=3)
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32
    assert tensor.flags.c_contiguous
    np.testing.assert_array_equal(tensor[0, 0], tensor[0, 2])
    assert tensor.min() >= -2.0 and tensor.max() <= 2.0
