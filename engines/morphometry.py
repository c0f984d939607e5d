"""The paper's nine shape descriptors of a binary spheroid mask (scikit-image regionprops)."""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields

import numpy as np

SHAPE_FEATURES = (
    "area",
    "perimeter",
    "eccentricity",
    "solidity",
    "extent",
    "equivalent_diameter",
    "major_axis",
    "minor_axis",
    "circularity",
)


@dataclass(frozen=True)
class ShapeDescriptors:
    """Shape of one object. Lengths in pixels of the original frame, area in pixels squared."""

    area: float
    perimeter: float
    eccentricity: float
    solidity: float
    extent: float
    equivalent_diameter: float
    major_axis: float
    minor_axis: float
    circularity: float

    def as_vector(self) -> np.ndarray:
        """The descriptors in :data:`SHAPE_FEATURES` order as float32."""
        return np.asarray(astuple(self), dtype=np.float32)

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}
