import numpy as np
import pytest

from engines.morphometry import SHAPE_FEATURES, shape_descriptors


def ellipse(semi_y: float, semi_x: float, size: int = 400, angle: float = 0.0) -> np.ndarray:
    rows, cols = np.mgrid[:size, :size] - (size - 1) / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cols * cos + rows * sin, -cols * sin + rows * cos
    return (u / semi_x) ** 2 + (v / semi_y) ** 2 <= 1.0


def test_disc_matches_analytic_values():
    shape = shape_descriptors(ellipse(60, 60))
    assert shape.area == pytest.approx(np.pi * 60**2, rel=0.01)
    assert shape.perimeter == pytest.approx(2 * np.pi * 60, rel=0.03)
    assert shape.equivalent_diameter == pytest.approx(120, rel=0.01)
    assert shape.major_axis == pytest.approx(120, rel=0.02)
    assert shape.minor_axis == pytest.approx(120, rel=0.02)
    assert shape.eccentricity < 0.1
    assert shape.solidity > 0.98
    assert shape.extent == pytest.approx(np.pi / 4, rel=0.02)
    assert shape.circularity > 0.97


def test_rotated_ellipse_matches_analytic_values():
    a, b = 100.0, 50.0
    shape = shape_descriptors(ellipse(b, a, angle=0.6))
    ramanujan = np.pi * (3 * (a + b) - np.sqrt((3 * a + b) * (a + 3 * b)))
    assert shape.area == pytest.approx(np.pi * a * b, rel=0.01)
    assert shape.major_axis == pytest.approx(2 * a, rel=0.02)
    assert shape.minor_axis == pytest.approx(2 * b, rel=0.02)
    assert shape.eccentricity == pytest.approx(np.sqrt(1 - (b / a) ** 2), abs=0.01)
    assert shape.perimeter == pytest.approx(ramanujan, rel=0.03)
    assert shape.circularity == pytest.approx(4 * np.pi * np.pi * a * b / ramanujan**2, abs=0.03)


def test_scale_converts_to_original_pixels():
    small = shape_descriptors(ellipse(20, 40, size=120))
    scaled = shape_descriptors(ellipse(20, 40, size=120), scale=4.0)
    assert scaled.area == pytest.approx(small.area * 16)
    assert scaled.perimeter == pytest.approx(small.perimeter * 4)
    assert scaled.major_axis == pytest.approx(small.major_axis * 4)
    assert scaled.eccentricity == small.eccentricity and scaled.circularity == small.circularity


def test_largest_object_is_measured_and_empty_gives_none():
    mask = ellipse(30, 30, size=200)
    mask[:5, :5] = True
    assert shape_descriptors(mask).area == pytest.approx(np.pi * 900, rel=0.02)
    assert shape_descriptors(np.zeros((50, 50), bool)) is None
    with pytest.raises(ValueError, match="2-D"):
        shape_descriptors(np.ones((2, 3, 4), bool))


def test_circularity_is_clipped_and_vector_follows_feature_order():
    shape = shape_descriptors(np.ones((3, 3), bool))
    assert 0.0 <= shape.circularity <= 1.0
    vector = shape.as_vector()
    assert vector.dtype == np.float32 and vector.shape == (len(SHAPE_FEATURES),)
    assert vector[SHAPE_FEATURES.index("area")] == shape.area
