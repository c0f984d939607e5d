"""The next-frame models' metadata vector, shared by the trainer and the runtime.

Fields, in the order a bundle's manifest lists them (``output.meta_fields``): categorical
labels become their index in the training vocabulary (``len(vocabulary)`` when unseen),
``log_density`` the natural log of the seeding density (0 when unknown), ``gap_days`` the
time from the last context frame to the forecast frame in days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def _number(text: object) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def encode_meta(fields: Sequence[str], vocabularies: Mapping[str, Sequence[str]],
                labels: Mapping[str, str], gap_hours: float) -> np.ndarray:
    """The metadata vector for ``labels`` (a plate-map row) and a gap of ``gap_hours``."""
    values: list[float] = []
    for name in fields:
        if name in vocabularies:
            classes = list(vocabularies[name])
            value = str(labels.get(name, ""))
            values.append(float(classes.index(value) if value in classes else len(classes)))
        elif name == "log_density":
            density = _number(labels.get("seeding_density", ""))
            values.append(math.log(density) if density and density > 0 else 0.0)
        elif name == "gap_days":
            values.append(gap_hours / 24.0)
        else:
            raise ValueError(f"unknown meta field {name!r}; valid: the manifest's "
                             "vocabularies, log_density, gap_days")
    return np.asarray(values, np.float32)
