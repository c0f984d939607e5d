"""How visible a label deviation is: can a classifier tell one frame of each condition apart?

For a deviation (the plate map's condition vs the one really seeded), ``n`` fresh spheroids of
each condition are rendered (new identities, a time point of the plate drawn at random), each
frame is described by shape descriptors of the classical segmentation, intensity statistics,
the time point and a 16 x 16 downsampled image, and a gradient-boosted classifier is trained
on 70% of them. Its accuracy on the held-out 30% is the separability (0.5: indistinguishable,
1.0: always told apart). Results are cached per condition pair in a JSON file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_THUMB = 16


@dataclass(frozen=True)
class ConditionPair:
    """Two conditions that differ in ``label``: ``labels`` (the plate map's) vs ``other``."""

    labels: tuple[tuple[str, str], ...]
    label: str
    other: str
    hours: tuple[float, ...]
    width: int

    @classmethod
    def of(cls, labels: Mapping[str, object], label: str, other: str,
           hours: Sequence[float], width: int) -> ConditionPair:
        return cls(tuple(sorted((k, str(v)) for k, v in labels.items())), label, str(other),
                   tuple(float(h) for h in hours), int(width))

    def key(self, n: int) -> str:
        text = json.dumps([self.labels, self.label, self.other, self.hours, self.width, n])
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def frame_features(image: np.ndarray, hours: float, segmenter: Any) -> np.ndarray:
    """Shape descriptors + intensity statistics + time point + a small image, one vector."""
    import cv2

    from engines.morphometry import SHAPE_FEATURES, shape_descriptors

    pixels = image.astype(np.float32)
    scale = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
    pixels /= scale
    seg = segmenter.segment(image)
    shape = shape_descriptors(seg.mask) if seg.found else None
    shape_vec = ([float(getattr(shape, f)) for f in SHAPE_FEATURES] if shape is not None
                 else [0.0] * len(SHAPE_FEATURES))
    mask = seg.mask.astype(bool) if seg.found else np.zeros(pixels.shape, bool)
    inside = pixels[mask] if mask.any() else pixels.ravel()
    stats = [pixels.mean(), pixels.std(), *np.percentile(pixels, [5, 25, 50, 75, 95]),
             inside.mean(), inside.std(), float(mask.mean()), float(seg.n_objects)]
    thumb = cv2.resize(pixels, (_THUMB, _THUMB), interpolation=cv2.INTER_AREA).ravel()
    return np.concatenate([shape_vec, stats, [hours], thumb]).astype(np.float32)


def _render_features(pair: ConditionPair, value: str, n: int, seed: int) -> np.ndarray:
    from edge_app.simulation import SpheroidRenderer, identity_seed
    from edge_app.simulation.renderer import frame_shape
    from edge_app.simulation.timeseries import frame_seed
    from engines.classical import ClassicalSegmenter

    renderer, segmenter = SpheroidRenderer(_vocab_for(pair)), ClassicalSegmenter()
    labels = {**dict(pair.labels), pair.label: value}
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        hours = float(pair.hours[int(rng.integers(len(pair.hours)))])
        row = renderer.vocab.row_from_mapping(labels, hours)
        identity = identity_seed(seed, "separability", value, i)
        image = renderer.render(row, frame_seed(identity, 0),
                                frame_shape(row, renderer.vocab, pair.width),
                                identity_seed=identity)
        rows.append(frame_features(image.image, hours, segmenter))
    return np.stack(rows)


def _vocab_for(pair: ConditionPair) -> Any:
    from edge_app.bench.layouts import UNSEEN_MICROSCOPE, with_unseen_microscope
    from edge_app.simulation import Vocabulary

    vocab = Vocabulary.default()
    return (with_unseen_microscope(vocab) if dict(pair.labels).get("microscope")
            == UNSEEN_MICROSCOPE else vocab)


def measure(pair: ConditionPair, n: int = 1000, seed: int = 0) -> float:
    """Held-out accuracy of telling ``n`` frames of each condition apart (0.5 = chance)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    if n < 10:
        raise ValueError(f"separability needs at least 10 renders per condition, not {n}")
    plate_value = dict(pair.labels)[pair.label]
    x = np.concatenate([_render_features(pair, plate_value, n, seed),
                        _render_features(pair, pair.other, n, seed + 1)])
    y = np.repeat([0, 1], n)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=seed)
    model = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    model.fit(x_train, y_train)
    return float((model.predict(x_test) == y_test).mean())


class SeparabilityCache:
    """Separability per condition pair, kept in a JSON file between runs."""

    def __init__(self, path: Path | None, n: int = 1000, seed: int = 0) -> None:
        self.path, self.n, self.seed = path, n, seed
        self._values: dict[str, float] = {}
        if path is not None and path.is_file():
            self._values = json.loads(path.read_text(encoding="utf-8"))

    def get(self, pair: ConditionPair) -> float:
        key = pair.key(self.n)
        if key not in self._values:
            log.info("separability of %s %s vs %s (%d renders each)", pair.label,
                     dict(pair.labels)[pair.label], pair.other, self.n)
            self._values[key] = measure(pair, self.n, self.seed)
            self._save()
        return self._values[key]

    def _save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self._values, indent=1), encoding="utf-8")
