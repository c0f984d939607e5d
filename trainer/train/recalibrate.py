"""``sentinel train recalibrate``: rebuild an IPP bundle from its own weights, no retraining.

The bundle's ``weights.safetensors`` are loaded into the zoo architecture with the embedding
output on, then:

1. ``n`` fresh synthetic-atlas frames (held-out seed, the atlas microscopes the model was
   trained on, the bundle's render width) go through the production path: the classical
   segmenter, :func:`engines.quality.assess` (only usable frames reach IPP, as in the
   pipeline), the shape descriptors and :class:`engines.tasks.IPPEngine`'s preprocessing.
2. Even frames fit the per-head temperatures and the Mahalanobis class Gaussians (on the
   ``ood_features`` output, classes of ``--ood-head``); odd frames give the Mondrian
   calibration scores, the old conformal table and the OOD threshold (a conformal
   quantile), so no statistic is judged on the frames it was fitted on.
3. The model is re-exported (ONNX with ``embedding`` and ``ood_features``, golden outputs
   refreshed from the bundle's own golden inputs), the manifest re-sealed with the exact
   command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

UNKNOWN = -100  # trainer.calibration's ignore index: a label outside the head's vocabulary


@dataclass(frozen=True)
class RecalibrateRequest:
    """A ``sentinel train recalibrate`` command line, parsed."""

    bundle: Path
    n: int = 3000
    seed: int = 11
    threads: int = 1
    ood_head: str = "microscope"
    ood_dims: int = 64
    ood_quantile: float = 0.99
    out: Path | None = None
    command: str = ""


@dataclass(frozen=True)
class Collected:
    """Outputs of the frames that reached IPP: logits per head, labels, embeddings and
    OOD features."""

    logits: Mapping[str, np.ndarray]
    labels: Mapping[str, np.ndarray]
    embeddings: np.ndarray
    features: np.ndarray
    rendered: int

    def take(self, rows: np.ndarray) -> Collected:
        return Collected({h: v[rows] for h, v in self.logits.items()},
                         {h: v[rows] for h, v in self.labels.items()},
                         self.embeddings[rows], self.features[rows], self.rendered)

    def __len__(self) -> int:
        return len(self.embeddings)


def embedding_model(bundle: Any) -> Any:
    """The bundle's architecture with ``embedding=True`` and its weights, in eval mode."""
    from engines.zoo import create_model, load_weights

    kwargs = {**bundle.manifest.model_kwargs, "embedding": True}
    model = create_model(bundle.manifest.architecture, **kwargs)
    load_weights(model, bundle.weights_path)
    return model.eval()


def torch_engine(bundle: Any, model: Any, threads: int) -> Any:
    """An :class:`IPPEngine` on ``bundle``'s preprocessing running ``model`` in PyTorch."""
    from engines.bundle import EMBEDDING, OOD_FEATURES
    from engines.runtimes.torch_rt import TorchRuntime
    from engines.tasks import IPPEngine

    heads = [h.name for h in bundle.manifest.output.heads]
    runtime = TorchRuntime(model, bundle.input_names, [*heads, EMBEDDING, OOD_FEATURES],
                           device="cpu", threads=threads)
    runtime.load()
    return IPPEngine(bundle, runtime)


def atlas_frames(seed: int, n: int, width: int, renderer: Any = None
                 ) -> Iterator[tuple[np.ndarray, Mapping[str, str]]]:
    """``n`` atlas renders of ``seed`` with their labels (text, as the IPP heads name them)."""
    from trainer.data.atlas_source import row_labels
    from trainer.synth.atlas import AtlasStream

    stream = AtlasStream(seed, width, renderer)
    for image in stream.take(n):
        yield image.image, row_labels(image.row)


def _encode(heads: Sequence[Any], labels: Mapping[str, str] | None) -> dict[str, int]:
    out = {}
    for head in heads:
        value = (labels or {}).get(head.name)
        out[head.name] = head.labels.index(value) if value in head.labels else UNKNOWN
    return out


def collect(engine: Any, frames: Iterable[tuple[np.ndarray, Mapping[str, str] | None]],
            batch: int = 32) -> Collected:
    """Segment, assess and run IPP on every frame as the pipeline does; keep usable ones."""
    from engines.classical import ClassicalSegmenter
    from engines.morphometry import shape_descriptors
    from engines.quality import assess

    segmenter, heads = ClassicalSegmenter(), engine.bundle.manifest.output.heads
    pending: list[tuple[np.ndarray, Any, dict[str, int]]] = []
    parts: list[tuple[dict[str, np.ndarray], list[dict[str, int]]]] = []
    rendered = 0

    def flush() -> None:
        if pending:
            outputs = engine.raw_outputs([p for p, _, _ in pending], [s for _, s, _ in pending])
            parts.append((outputs, [c for _, _, c in pending]))
            pending.clear()

    for pixels, labels in frames:
        rendered += 1
        seg = segmenter.segment(pixels)
        if assess(seg):
            continue
        pending.append((pixels, shape_descriptors(seg.mask, scale=seg.scale),
                        _encode(heads, labels)))
        if len(pending) >= batch:
            flush()
    flush()
    return _stack(parts, [h.name for h in heads], rendered)


def _stack(parts: list[tuple[dict[str, np.ndarray], list[dict[str, int]]]],
           heads: list[str], rendered: int) -> Collected:
    from engines.bundle import EMBEDDING, OOD_FEATURES

    if not parts:
        raise ValueError(f"none of {rendered} frames was usable for IPP")
    logits = {h: np.concatenate([o[h] for o, _ in parts]).astype(np.float64) for h in heads}
    labels = {h: np.asarray([c[h] for _, codes in parts for c in codes], np.int64)
              for h in heads}
    embeddings = np.concatenate([o[EMBEDDING] for o, _ in parts]).astype(np.float32)
    features = np.concatenate([o[OOD_FEATURES] for o, _ in parts]).astype(np.float32)
    return Collected(logits, labels, embeddings, features, rendered)


def calibrate(fit: Collected, held: Collected, heads: Sequence[Any]) -> tuple[Any, dict]:
    """Temperatures on ``fit``; Mondrian scores, conformal table, ECE on ``held``."""
    from scipy.special import softmax

    from engines.bundle import Calibration
    from engines.conformal import mondrian_scores
    from trainer.calibration import (
        DEFAULT_ALPHAS,
        alpha_key,
        conformal_scores,
        conformal_threshold,
        expected_calibration_error,
        fit_temperature,
    )

    temperature, conformal, mondrian, metrics = {}, {}, {}, {}
    for head in heads:
        t = fit_temperature(fit.logits[head.name], fit.labels[head.name])
        y = held.labels[head.name]
        known = y != UNKNOWN
        probs = softmax(held.logits[head.name][known] / t, axis=1)
        scores = conformal_scores(probs, y[known])
        temperature[head.name] = t
        conformal[head.name] = {alpha_key(a): conformal_threshold(scores, a)
                                for a in DEFAULT_ALPHAS}
        mondrian[head.name] = mondrian_scores(probs, y[known], head.labels)
        metrics[f"ece_after/{head.name}"] = expected_calibration_error(probs, y[known])
    calibration = Calibration(temperature=temperature, conformal=conformal, mondrian=mondrian)
    return calibration, metrics


def fit_ood_stats(fit: Collected, held: Collected, heads: Sequence[Any],
                  request: RecalibrateRequest) -> tuple[Any, dict[str, np.ndarray]]:
    """Mahalanobis Gaussians on ``fit``; the threshold is a conformal quantile on ``held``."""
    from engines.bundle import OODSpec
    from engines.ood import conformal_quantile, fit_ood, ood_scores

    head = next((h for h in heads if h.name == request.ood_head), None)
    if head is None:
        raise ValueError(f"--ood-head {request.ood_head!r} is not a head of this bundle "
                         f"({', '.join(h.name for h in heads)})")
    labels = fit.labels[head.name]
    stats = fit_ood(fit.features, labels, request.ood_dims)
    threshold = conformal_quantile(ood_scores(stats, held.features), request.ood_quantile)
    if not np.isfinite(threshold):
        raise ValueError(f"{len(held)} held-out frames cannot set a {request.ood_quantile:g} "
                         "quantile; render more (--n)")
    present = tuple(head.labels[k] for k in np.unique(labels[labels >= 0]))
    spec = OODSpec(head=head.name, classes=present, dims=int(stats.components.shape[1]),
                   threshold=threshold, quantile=request.ood_quantile, n_fit=len(fit),
                   n_threshold=len(held))
    return spec, stats.arrays()


def halves(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Even rows (fit) and odd rows (held out)."""
    rows = np.arange(n)
    return rows[rows % 2 == 0], rows[rows % 2 == 1]


def recalibrate(request: RecalibrateRequest,
                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Any:
    """Re-export ``request.bundle`` with embedding, Mondrian calibration and OOD statistics.

    Returns:
        The verified new :class:`engines.bundle.Bundle`.
    """
    import torch

    from engines.bundle import load_bundle

    torch.set_num_threads(request.threads)
    bundle = load_bundle(request.bundle)
    manifest = bundle.manifest
    if manifest.task != "ipp":
        raise ValueError(f"{request.bundle} is a {manifest.task} bundle; recalibrate needs IPP")
    model = embedding_model(bundle)
    engine = torch_engine(bundle, model, request.threads)
    width = int(manifest.data.get("width", 512))
    collected = collect(engine, atlas_frames(request.seed, request.n, width))
    fit_rows, held_rows = halves(len(collected))
    fit, held = collected.take(fit_rows), collected.take(held_rows)
    heads = manifest.output.heads
    calibration, ece = calibrate(fit, held, heads)
    ood = fit_ood_stats(fit, held, heads, request)
    logger.info("recalibrated on %d usable of %d rendered frames; OOD threshold %.2f",
                len(collected), collected.rendered, ood[0].threshold)
    summary = {"seed": request.seed, "n_rendered": collected.rendered,
               "n_usable": len(collected), "width": width, "segmenter": "classical",
               "split": "even rows fit temperature and OOD Gaussians; odd rows give the "
                        "Mondrian scores and the OOD threshold"}
    return _export(bundle, model, calibration, ood, ece, summary, request, clock)


def _export(bundle: Any, model: Any, calibration: Any, ood: Any, ece: Mapping[str, float],
            summary: Mapping[str, Any], request: RecalibrateRequest,
            clock: Callable[[], datetime]) -> Any:
    from engines.bundle import EMBEDDING, OOD_FEATURES
    from engines.export import export_bundle

    manifest = bundle.manifest
    spec = manifest.input
    golden_inputs, _ = bundle.golden()
    stale = ("ece_after/", "ece_before/", "coverage_")
    metrics = {k: v for k, v in manifest.metrics.items() if not k.startswith(stale)}
    previous = manifest.data.get("trained_by", manifest.command)
    return export_bundle(
        model, manifest.architecture, "ipp", request.out or bundle.path,
        sample_inputs={n: golden_inputs[n] for n in bundle.input_names},
        output_names=[*(h.name for h in manifest.output.heads), EMBEDDING, OOD_FEATURES],
        size=spec.size, channels=spec.channels, normalisation=spec.normalisation,
        heads=manifest.output.heads,
        shape_stats=None if spec.shape_mean is None else (spec.shape_mean, spec.shape_std),
        calibration=calibration, ood=ood, metrics={**metrics, **ece},
        data={**manifest.data, "trained_by": previous, "recalibration": dict(summary)},
        command=request.command, model_kwargs={**manifest.model_kwargs, "embedding": True},
        tolerances=manifest.golden.tolerances, clock=clock)
