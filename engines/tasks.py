"""Task engines: a bundle + a runtime + the shared pre- and post-processing.

``SegmentationEngine`` returns the same :class:`~engines.classical.SegmentationOutput` as the
classical segmenter (so the pipeline can swap one for the other), ``IPPEngine`` per-head
label probabilities (temperature-scaled) and, with ``analyse_batch``, an :class:`IPPOutput`
(probabilities, embedding, out-of-distribution score), ``ForecastEngine`` the next frame of a
well.
Lifecycle: ``load()``, ``warmup()``, ``infer(batch)``, ``close()``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engines.bundle import EMBEDDING, OOD_FEATURES, Bundle, BundleError, load_bundle
from engines.classical import (
    ClassicalConfig,
    SegmentationOutput,
    describe_foreground,
    fill_holes,
)
from engines.meta import encode_meta
from engines.morphometry import SHAPE_FEATURES, ShapeDescriptors
from engines.ood import OODStats, ood_scores
from engines.preprocess import (
    analysis_size,
    as_plane,
    normalise,
    resize_area,
    standardise,
)
from engines.runtimes.base import Runtime

logger = logging.getLogger(__name__)


class TaskEngine:
    """What every task engine shares: its bundle, its runtime, the model-size preprocessing.

    Args:
        bundle: a verified :class:`Bundle` or a bundle folder.
        runtime: ``"auto" | "tensorrt" | "torch" | "onnx"`` (chosen at ``load``), or a ready
            :class:`Runtime` (already loaded and checked by the caller).
    """

    task = ""

    def __init__(self, bundle: Bundle | str | Path, runtime: str | Runtime = "auto", *,
                 device: str | None = None, threads: int | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        if self.bundle.manifest.task != self.task:
            raise BundleError(f"{self.bundle.path} is a {self.bundle.manifest.task} bundle, "
                              f"not {self.task}")
        self._runtime_choice = runtime
        self.device, self.threads = device, threads
        self.runtime: Runtime | None = runtime if not isinstance(runtime, str) else None
        spec = self.bundle.manifest.input
        self.size: tuple[int, int] = (int(spec.size[0]), int(spec.size[1]))
        self.names = self.bundle.input_names

    @property
    def name(self) -> str:
        return self.bundle.manifest.architecture

    def load(self) -> None:
        if self.runtime is None:
            from engines.runtimes.select import select_runtime

            assert isinstance(self._runtime_choice, str)
            self.runtime = select_runtime(self.bundle, self._runtime_choice,
                                          device=self.device, threads=self.threads)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.runtime is None:
            raise RuntimeError(f"{type(self).__name__}.load() was not called")
        return self.runtime.infer(inputs)

    def model_image(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(plane, normalised image at model size)`` of one frame (resize first)."""
        plane = as_plane(pixels)
        percentiles = self.bundle.manifest.input.normalisation.percentiles
        return plane, normalise(resize_area(plane, self.size), percentiles)

    def standardised(self, image: np.ndarray) -> np.ndarray:
        spec = self.bundle.manifest.input
        return standardise(image, spec.normalisation.mean, spec.normalisation.std,
                           spec.channels)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.close()
        self.runtime = None


class SegmentationEngine(TaskEngine):
    """Neural segmentation with the classical segmenter's output and quality measures."""

    task = "segmentation"

    def __init__(self, bundle: Bundle | str | Path, runtime: str | Runtime = "auto", *,
                 config: ClassicalConfig | None = None, **kwargs: Any) -> None:
        super().__init__(bundle, runtime, **kwargs)
        self.config = config or ClassicalConfig(max_side=max(self.size))
        threshold = self.bundle.manifest.output.threshold or 0.5
        self.logit_threshold = float(np.log(threshold / (1.0 - threshold)))

    def warmup(self) -> None:
        self.segment(_blank(self.size))

    def segment(self, pixels: np.ndarray) -> SegmentationOutput:
        return self.segment_batch([pixels])[0]

    def infer(self, batch: Sequence[np.ndarray]) -> list[SegmentationOutput]:
        return self.segment_batch(batch)

    def segment_batch(self, frames: Sequence[np.ndarray]) -> list[SegmentationOutput]:
        """Segment frames in one runtime call (batch = ``len(frames)``)."""
        prepared = [self.model_image(f) for f in frames]
        x = np.concatenate([self.standardised(img) for _, img in prepared])
        logits = next(iter(self._run({self.names[0]: x}).values()))
        return [self._describe(plane, img, logits[i, 0])
                for i, (plane, img) in enumerate(prepared)]

    def _describe(self, plane: np.ndarray, image: np.ndarray, logits: np.ndarray
                  ) -> SegmentationOutput:
        size, scale = analysis_size(plane.shape, self.config.max_side)
        if size != self.size:  # keep the frame's aspect ratio at analysis resolution
            image = normalise(resize_area(plane, size),
                              self.bundle.manifest.input.normalisation.percentiles)
            logits = cv2.resize(logits, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        # Spheroids are solid: a bright core the model leaves out is still spheroid.
        foreground = fill_holes((logits > self.logit_threshold).astype(np.uint8))
        # Small objects are dropped inside (and counted as debris particles).
        return describe_foreground(image, foreground.astype(bool), scale, self.config)


def _blank(size: tuple[int, int]) -> np.ndarray:
    """A warm-up frame: a dark square on a bright field."""
    image = np.full(size, 1000, np.uint16)
    image[size[0] // 4: 3 * size[0] // 4, size[1] // 4: 3 * size[1] // 4] = 400
    return image


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax over the last axis of ``logits / temperature`` (numerically stable)."""
    z = logits.astype(np.float64) / max(temperature, 1e-6)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class IPPOutput:
    """One frame's IPP result.

    Attributes:
        probabilities: head -> label -> temperature-scaled probability.
        embedding: float32 [D] pooled backbone features (empty if the bundle has none).
        ood_score: smallest Mahalanobis distance of the frame's ``ood_features`` to a training
            class (nan without statistics).
        ood_threshold: the bundle's in-domain limit for ``ood_score`` (nan without).
        in_domain: ``ood_score <= ood_threshold``; ``None`` when the bundle cannot tell.
    """

    probabilities: Mapping[str, Mapping[str, float]]
    embedding: np.ndarray = field(compare=False, repr=False)
    ood_score: float = math.nan
    ood_threshold: float = math.nan
    in_domain: bool | None = None


class IPPEngine(TaskEngine):
    """Inverse protocol prediction: per head, label -> calibrated probability.

    ``predict_batch`` returns the probabilities; ``analyse_batch`` adds the embedding and the
    out-of-distribution score (when the bundle has them).
    """

    task = "ipp"

    def __init__(self, bundle: Bundle | str | Path, runtime: str | Runtime = "auto",
                 **kwargs: Any) -> None:
        super().__init__(bundle, runtime, **kwargs)
        spec = self.bundle.manifest.input
        self.uses_shape = len(self.names) > 1
        if self.uses_shape and (spec.shape_mean is None or spec.shape_std is None):
            raise BundleError(f"{self.bundle.path}: the model takes shape features but the "
                              "manifest has no shape_mean/shape_std")
        n = len(SHAPE_FEATURES)
        self.shape_mean = np.asarray(spec.shape_mean or [0.0] * n, np.float32)
        self.shape_std = np.maximum(np.asarray(spec.shape_std or [1.0] * n, np.float32), 1e-6)
        path = self.bundle.ood_path
        self.ood: OODStats | None = OODStats.load(path) if path is not None else None

    @property
    def heads(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.bundle.manifest.output.heads)

    def shape_vector(self, shape: ShapeDescriptors | None) -> np.ndarray:
        """z-normalised descriptors (1, 9); a frame without an object gets the mean (zeros)."""
        if shape is None:
            return np.zeros((1, len(SHAPE_FEATURES)), np.float32)
        return ((shape.as_vector() - self.shape_mean) / self.shape_std)[None]

    def warmup(self) -> None:
        self.predict(_blank(self.size), None)

    def predict(self, pixels: np.ndarray, shape: ShapeDescriptors | None
                ) -> dict[str, dict[str, float]]:
        return self.predict_batch([pixels], [shape])[0]

    def infer(self, batch: Sequence[tuple[np.ndarray, ShapeDescriptors | None]]
              ) -> list[dict[str, dict[str, float]]]:
        return self.predict_batch([p for p, _ in batch], [s for _, s in batch])

    def raw_outputs(self, frames: Sequence[np.ndarray],
                    shapes: Sequence[ShapeDescriptors | None]) -> dict[str, np.ndarray]:
        """The runtime's outputs by name (head logits, ``embedding`` if exported)."""
        inputs = {self.names[0]: np.concatenate(
            [self.standardised(self.model_image(f)[1]) for f in frames])}
        if self.uses_shape:
            inputs[self.names[1]] = np.concatenate([self.shape_vector(s) for s in shapes])
        outputs = self._run(inputs)
        heads = [h.name for h in self.bundle.manifest.output.heads]
        if not set(heads) <= set(outputs):  # unnamed outputs: heads first, in order
            outputs = dict(zip([*heads, EMBEDDING, OOD_FEATURES], outputs.values(),
                               strict=False))
        return outputs

    def probabilities(self, outputs: Mapping[str, np.ndarray]
                      ) -> list[dict[str, dict[str, float]]]:
        """Temperature-scaled probabilities per frame from :meth:`raw_outputs`."""
        temperature = self.bundle.manifest.calibration.temperature
        n = len(next(iter(outputs.values())))
        result: list[dict[str, dict[str, float]]] = [{} for _ in range(n)]
        for head in self.bundle.manifest.output.heads:
            probs = softmax(outputs[head.name], temperature.get(head.name, 1.0))
            for i in range(n):
                result[i][head.name] = dict(zip(head.labels, map(float, probs[i]), strict=True))
        return result

    def predict_batch(self, frames: Sequence[np.ndarray],
                      shapes: Sequence[ShapeDescriptors | None]
                      ) -> list[dict[str, dict[str, float]]]:
        return self.probabilities(self.raw_outputs(frames, shapes))

    def analyse_batch(self, frames: Sequence[np.ndarray],
                      shapes: Sequence[ShapeDescriptors | None]) -> list[IPPOutput]:
        """Probabilities, embedding and out-of-distribution verdict of each frame."""
        outputs = self.raw_outputs(frames, shapes)
        probabilities = self.probabilities(outputs)
        embedding = outputs.get(EMBEDDING)
        if embedding is None:
            return [IPPOutput(p, np.zeros(0, np.float32)) for p in probabilities]
        embedding = np.asarray(embedding, np.float32).reshape(len(probabilities), -1)
        spec = self.bundle.manifest.ood
        if self.ood is None or spec is None:
            return [IPPOutput(p, e) for p, e in zip(probabilities, embedding, strict=True)]
        features = np.asarray(outputs[spec.features]).reshape(len(embedding), -1)
        scores = ood_scores(self.ood, features)
        return [IPPOutput(p, e, float(s), spec.threshold, bool(s <= spec.threshold))
                for p, e, s in zip(probabilities, embedding, scores, strict=True)]


class ForecastEngine(TaskEngine):
    """Next-frame forecast from a well's previous frames (+ metadata), at model size."""

    task = "nextframe"

    @property
    def context(self) -> int:
        return int(self.bundle.manifest.output.context_frames or 2)

    def warmup(self) -> None:
        self.forecast([_blank(self.size)] * self.context)

    def frames_input(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """(1, context, H, W) in [0, 1]: each frame resized, then normalised on its own."""
        if len(frames) != self.context:
            raise ValueError(f"{self.name} needs {self.context} frames, got {len(frames)}")
        return np.stack([self.model_image(f)[1] for f in frames])[None]

    def meta(self, labels: Mapping[str, str] | None, gap_hours: float) -> np.ndarray | None:
        """The model's metadata vector for a well's plate-map labels (None: takes no meta)."""
        fields = self.bundle.manifest.output.meta_fields
        if len(self.names) < 2 or not fields:
            return None
        vocabularies = self.bundle.manifest.data.get("meta_vocabularies", {})
        return encode_meta(fields, vocabularies, labels or {}, gap_hours)

    def forecast(self, frames: Sequence[np.ndarray], meta: Sequence[float] | None = None
                 ) -> np.ndarray:
        """The predicted next frame (H, W) float32 in the model's [0, 1] intensity scale."""
        return self.forecast_batch([frames], [meta])[0]

    def infer(self, batch: Sequence[tuple[Sequence[np.ndarray], Sequence[float] | None]]
              ) -> list[np.ndarray]:
        return self.forecast_batch([f for f, _ in batch], [m for _, m in batch])

    def forecast_batch(self, histories: Sequence[Sequence[np.ndarray]],
                       metas: Sequence[Sequence[float] | None]) -> list[np.ndarray]:
        inputs = {self.names[0]: np.concatenate([self.frames_input(h) for h in histories])}
        if len(self.names) > 1:
            width = self.bundle.manifest.input.tensors[1].shape[-1]
            inputs[self.names[1]] = np.asarray(
                [list(m) if m is not None else [0.0] * width for m in metas], np.float32)
        out = next(iter(self._run(inputs).values()))
        return [np.ascontiguousarray(o[0], np.float32) for o in out]
