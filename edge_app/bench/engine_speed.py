"""The engine benchmark: the whole per-frame path, per stage, for each runtime side by side.

For every runtime (PyTorch eager as the reference, ONNX Runtime, and on a GPU PyTorch FP16
with CUDA graphs and TensorRT when present) the same ``n`` frames go through read ->
preprocess -> segmentation -> morphometry -> IPP -> forecast -> verdict -> store, batch 1,
with the same thread count. Stage medians and 99th percentiles, frames/s and peak RSS.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from engines.bundle import Bundle, load_bundle

log = logging.getLogger(__name__)

STAGES = ("read", "preprocess", "segmentation", "morphometry", "ipp", "forecast", "verdict",
          "store")
DEFAULT_MODELS = {"segmentation": "unet_mobilenetv2_cpu", "ipp": "fusion_cpu",
                  "nextframe": "convlstm_cpu"}


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's figures (``error`` set when it could not run here)."""

    runtime: str
    stage_ms_median: dict[str, float]
    stage_ms_p99: dict[str, float]
    model_ms_median: float
    frames_per_s: float
    peak_rss_mb: float
    error: str | None = None


@dataclass(frozen=True)
class EngineBenchReport:
    frames: int
    size: int
    threads: int
    models: dict[str, str]
    runs: list[RuntimeRun]

    def speedup(self, runtime: str, reference: str = "torch") -> float | None:
        """Model time (the three engines) of ``reference`` over ``runtime``."""
        by = {r.runtime: r for r in self.runs if r.error is None}
        if runtime not in by or reference not in by:
            return None
        return by[reference].model_ms_median / max(by[runtime].model_ms_median, 1e-9)

    def to_json(self) -> str:
        body = asdict(self)
        body["speedup_vs_torch"] = {r.runtime: self.speedup(r.runtime) for r in self.runs}
        return json.dumps(body, indent=2)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _write_frames(folder: Path, n: int, size: int, seed: int) -> list[Path]:
    """``n`` uncompressed uint16 TIFFs of drawn spheroids (distinct bytes)."""
    import tifffile

    from edge_app.bench.folder_latency import _base_frame

    base = _base_frame(size, seed)
    paths = []
    for i in range(n):
        paths.append(folder / f"bench_{i:04d}.tif")
        tifffile.imwrite(paths[-1], base ^ np.uint16(i + 1))  # same look, distinct bytes
    return paths


class _Sink:
    """The store stage: one row per frame into SQLite (WAL), committed per frame."""

    def __init__(self, path: Path) -> None:
        import sqlite_utils

        self.db = sqlite_utils.Database(path)
        self.db.enable_wal()

    def record(self, row: dict[str, Any]) -> None:
        with self.db.conn:
            self.db["bench_results"].insert(row)

    def close(self) -> None:
        self.db.close()


class _Path:
    """The per-frame path for one set of engines, timing each stage."""

    def __init__(self, engines: dict[str, Any], store: _Sink,
                 clock: Callable[[], datetime]) -> None:
        self.seg, self.ipp, self.nxt = (engines["segmentation"], engines["ipp"],
                                        engines["nextframe"])
        self.store, self.clock = store, clock
        self.history: list[np.ndarray] = []

    def run(self, path: Path, index: int) -> dict[str, float]:
        import tifffile

        from engines.morphometry import shape_descriptors
        from engines.quality import assess

        t = [time.perf_counter()]
        pixels = tifffile.imread(path)
        t.append(time.perf_counter())
        plane, seg_img = self.seg.model_image(pixels)
        seg_x = self.seg.standardised(seg_img)
        ipp_x = self.ipp.standardised(self.ipp.model_image(plane)[1])
        nxt_img = self.nxt.model_image(plane)[1]
        t.append(time.perf_counter())
        logits = self.seg._run({self.seg.names[0]: seg_x})
        seg = self.seg._describe(plane, seg_img, next(iter(logits.values()))[0, 0])
        t.append(time.perf_counter())
        shape = shape_descriptors(seg.mask, seg.scale) if seg.found else None
        t.append(time.perf_counter())
        probs = self._ipp(ipp_x, shape)
        t.append(time.perf_counter())
        history = self.history[-2:] if len(self.history) >= 2 else [nxt_img, nxt_img]
        forecast = self._forecast(history)
        t.append(time.perf_counter())
        reasons = assess(seg)
        error = float(np.abs(forecast - nxt_img).mean())
        top = {h: max(p, key=lambda k, p=p: p[k]) for h, p in probs.items()}
        t.append(time.perf_counter())
        self.store.record({"uri": str(path), "index": index, "at": self.clock().isoformat(),
                           "shape": json.dumps(shape.as_dict() if shape else None),
                           "quality": ",".join(reasons), "labels": json.dumps(top),
                           "forecast_error": error})
        t.append(time.perf_counter())
        self.history.append(nxt_img)
        return {s: (b - a) * 1e3 for s, a, b in zip(STAGES, t[:-1], t[1:], strict=True)}

    def _ipp(self, x: np.ndarray, shape: Any) -> dict[str, dict[str, float]]:
        from engines.tasks import softmax

        inputs = {self.ipp.names[0]: x}
        if self.ipp.uses_shape:
            inputs[self.ipp.names[1]] = self.ipp.shape_vector(shape)
        outs = self.ipp._run(inputs).values()
        temps = self.ipp.bundle.manifest.calibration.temperature
        return {h.name: dict(zip(h.labels, softmax(o, temps.get(h.name, 1.0))[0], strict=True))
                for h, o in zip(self.ipp.bundle.manifest.output.heads, outs, strict=True)}

    def _forecast(self, history: list[np.ndarray]) -> np.ndarray:
        frames = np.stack(history)[None]
        inputs = {self.nxt.names[0]: frames}
        if len(self.nxt.names) > 1:
            width = self.nxt.bundle.manifest.input.tensors[1].shape[-1]
            inputs[self.nxt.names[1]] = np.zeros((1, width), np.float32)
        return next(iter(self.nxt._run(inputs).values()))[0, 0]


def _engines(bundles: dict[str, Bundle], kind: str, threads: int, device: str | None
             ) -> dict[str, Any]:
    from engines.tasks import ForecastEngine, IPPEngine, SegmentationEngine

    classes = {"segmentation": SegmentationEngine, "ipp": IPPEngine, "nextframe": ForecastEngine}
    made = {}
    for task, cls in classes.items():
        engine = cls(bundles[task], kind, threads=threads, device=device)
        engine.load()
        made[task] = engine
    return made


def _measure(bundles: dict[str, Bundle], kind: str, paths: list[Path], threads: int,
             device: str | None, workdir: Path) -> RuntimeRun:
    engines = _engines(bundles, kind, threads, device)
    label = engines["segmentation"].runtime.kind
    sink = _Sink(workdir / f"bench-{kind}.sqlite")
    peak = [psutil.Process().memory_info().rss]
    path = _Path(engines, sink, lambda: datetime.now(UTC))
    try:
        for engine in engines.values():
            engine.warmup()
        path.run(paths[0], -1)  # one full frame, not timed
        path.history.clear()
        stages: dict[str, list[float]] = {s: [] for s in STAGES}
        began = time.perf_counter()
        for i, file in enumerate(paths):
            for stage, ms in path.run(file, i).items():
                stages[stage].append(ms)
            peak.append(psutil.Process().memory_info().rss)
        elapsed = time.perf_counter() - began
    finally:
        sink.close()
        for engine in engines.values():
            engine.close()
    model = [sum(v) for v in zip(stages["segmentation"], stages["ipp"], stages["forecast"],
                                 strict=True)]
    return RuntimeRun(label, {k: statistics.median(v) for k, v in stages.items()},
                      {k: _p99(v) for k, v in stages.items()}, statistics.median(model),
                      len(paths) / elapsed, max(peak) / 2**20)


def runtime_kinds(device: str | None) -> list[tuple[str, str | None]]:
    """(kind, device) pairs to compare on this PC: torch eager FP32 first (the reference)."""
    from engines.runtimes.select import cuda_device

    gpu = cuda_device()[0] if device is None else device.startswith("cuda")
    kinds: list[tuple[str, str | None]] = [("torch", "cpu"), ("onnx", "cpu")]
    if gpu:
        kinds += [("torch", "cuda"), ("tensorrt", "cuda")]
    return kinds


def measure_engines(n: int = 50, size: int = 2048, *, bundles: dict[str, Path] | None = None,
                    models: dict[str, str] | None = None, threads: int | None = None,
                    kinds: list[tuple[str, str | None]] | None = None, seed: int = 1
                    ) -> EngineBenchReport:
    """Time ``n`` frames of ``size`` x ``size`` uint16 through the path, per runtime.

    Bundles: ``bundles`` by task, else the installed defaults, else ``models`` (zoo names,
    default :data:`DEFAULT_MODELS`) exported with random weights into a temporary folder.
    """
    import os

    from engines.bundle import default_bundle
    from engines.runtimes.base import ParityError, RuntimeUnavailable

    threads = threads or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        work = Path(tmp)
        chosen = _bundles(bundles, models, work, default_bundle)
        paths = _write_frames(work, n, size, seed)
        runs = []
        for kind, device in kinds or runtime_kinds(None):
            try:
                runs.append(_measure(chosen, kind, paths, threads, device, work))
            except (RuntimeUnavailable, ParityError, RuntimeError, ImportError) as exc:
                log.warning("bench: %s on %s skipped: %s", kind, device, exc)
                runs.append(RuntimeRun(f"{kind} ({device})", {}, {}, float("nan"), 0.0, 0.0,
                                       error=str(exc)))
        names = {t: b.manifest.architecture for t, b in chosen.items()}
    return EngineBenchReport(n, size, threads, names, runs)


def _bundles(bundles: dict[str, Path] | None, models: dict[str, str] | None, work: Path,
             default: Callable[[str], Path | None]) -> dict[str, Bundle]:
    from engines.export import export_untrained

    chosen: dict[str, Bundle] = {}
    for task in ("segmentation", "ipp", "nextframe"):
        given = (bundles or {}).get(task)
        folder = given or (None if models and task in models else default(task))
        if folder is not None:
            chosen[task] = load_bundle(folder)
        else:
            name = (models or {}).get(task, DEFAULT_MODELS[task])
            log.info("bench: %s bundle from zoo model %s with random weights", task, name)
            chosen[task] = export_untrained(name, work / "bundles" / task)
    return chosen
