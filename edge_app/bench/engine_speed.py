"""The engine benchmark: the app's own per-frame path, per stage, for each runtime side by side.

For every runtime (PyTorch eager as the reference, ONNX Runtime, and on a GPU PyTorch FP16
with CUDA graphs and TensorRT when present) the same ``n`` frames are read from disk and go
through :class:`~edge_app.pipeline.analysis.FrameAnalyser` (segmentation -> morphometry ->
quality -> IPP -> forecast, exactly what ``sentinel watch`` runs, the forecaster fed the
well's plate-map metadata and the gap between visits) and into SQLite, batch 1, with the same
thread count. Stage medians and 99th percentiles come from the analyser's own timings; the
model time is the time spent inside the runtimes' ``infer`` (the part that differs between
runtimes). Frames/s and peak RSS.
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
from engines.metrics import p99

log = logging.getLogger(__name__)
#: Called with (runtime, FrameResult) for every timed frame (tests compare paths with it).
ResultHook = Callable[[str, Any], None]

#: Display order of the analyser's stages (others it reports follow) and the store.
STAGES = ("read", "segment", "morphometry", "quality", "ipp", "forecast", "store")
DEFAULT_MODELS = {"segmentation": "unet_mobilenetv2_cpu", "ipp": "fusion_cpu",
                  "nextframe": "convlstm_cpu"}
#: The bench's frames are one well imaged once a day, labelled like the demo plate.
BENCH_LABELS = {"cell_line": "HCT116", "culture_medium": "DMEMF12", "seeding_density": "2000"}


@dataclass(frozen=True)
class RuntimeRun:
    """One runtime's figures (``error`` set when it could not run here).

    ``ipp_frames``/``forecast_frames``: how many timed frames the analyser ran IPP / the
    next-frame engine on (it skips frames unfit for verdicts, as the live app does).
    """

    runtime: str
    stage_ms_median: dict[str, float]
    stage_ms_p99: dict[str, float]
    model_ms_median: float
    frames_per_s: float
    peak_rss_mb: float
    error: str | None = None
    ipp_frames: int = 0
    forecast_frames: int = 0


@dataclass(frozen=True)
class EngineBenchReport:
    frames: int
    size: int
    threads: int
    models: dict[str, str]
    runs: list[RuntimeRun]
    #: Per-frame milliseconds of the protocol rule's evidence (replicate + IPP e-values,
    #: e-BH) over a simulated 96-well plate, 2 sites x 3 time points: median, p90, max.
    evidence_ms: dict[str, float] | None = None

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
            self.db.table("bench_results").insert(row)

    def close(self) -> None:
        self.db.close()


class TimedRuntime:
    """Wraps a loaded runtime and adds up the seconds spent in ``infer`` (model time)."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self.seconds = 0.0

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        started = time.perf_counter()
        try:
            return self._runtime.infer(inputs)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


class _Labels:
    """A one-well plate map for the analyser (the forecaster's metadata comes from it)."""

    plate_id = "bench"

    class _Well:
        labels = BENCH_LABELS

    def expected(self, well: str) -> Any:
        return self._Well()

    def hours_since_seeding(self, well: str, at: datetime) -> float | None:
        return None


def read_frame(path: Path, index: int) -> Any:
    """One bench file as the app's ``Frame``: well A1, one visit a day, read time kept."""
    import tifffile

    from edge_app.core.frames import Frame, FrameMeta

    started = time.perf_counter()
    pixels = tifffile.imread(path)
    read_ms = (time.perf_counter() - started) * 1e3
    return Frame(pixels, FrameMeta(uri=str(path), plate_id="bench", well="A1",
                                   hours=24.0 * (index + 2), extra={"read_ms": read_ms}))


def analyser_for(engines: dict[str, Any], clock: Callable[[], datetime]) -> Any:
    """The app's :class:`FrameAnalyser` on these engines (segmentation, ipp, nextframe)."""
    from edge_app.pipeline.analysis import FrameAnalyser

    return FrameAnalyser(engines["segmentation"], ipp=engines.get("ipp"),
                         forecaster=engines.get("nextframe"), clock=clock)


class _Path:
    """Read -> analyser -> store for one set of engines; stage times from the analyser."""

    def __init__(self, engines: dict[str, Any], store: _Sink,
                 clock: Callable[[], datetime]) -> None:
        self.engines, self.store = engines, store
        self.analyser = analyser_for(engines, clock)
        self.timed = [e.runtime for e in engines.values()]

    def run(self, path: Path, index: int) -> tuple[dict[str, float], float, Any]:
        """Stage ms, model ms (inside the runtimes) and the ``FrameResult`` of one file."""
        model_before = sum(t.seconds for t in self.timed)
        frame = read_frame(path, index)
        result = self.analyser.analyse(frame, _Labels())
        started = time.perf_counter()
        self.store.record({"uri": str(path), "index": index,
                           "at": result.processed_at.isoformat(),
                           "shape": json.dumps(result.shape.as_dict() if result.shape else None),
                           "quality": ",".join(result.quality),
                           "labels": json.dumps(result.predictions),
                           "forecast_ssim": result.forecast.ssim if result.forecast else None})
        stages = {s: float(ms) for s, ms in result.timings_ms.items()}
        stages["store"] = (time.perf_counter() - started) * 1e3
        model_ms = (sum(t.seconds for t in self.timed) - model_before) * 1e3
        return stages, model_ms, result


def _engines(bundles: dict[str, Bundle], kind: str, threads: int, device: str | None
             ) -> dict[str, Any]:
    """The three task engines on runtime ``kind``, loaded, each runtime timed."""
    from engines.tasks import ForecastEngine, IPPEngine, SegmentationEngine

    classes = {"segmentation": SegmentationEngine, "ipp": IPPEngine, "nextframe": ForecastEngine}
    made = {}
    for task, cls in classes.items():
        engine = cls(bundles[task], kind, threads=threads, device=device)
        engine.load()
        engine.runtime = TimedRuntime(engine.runtime)
        made[task] = engine
    return made


def _measure(bundles: dict[str, Bundle], kind: str, paths: list[Path], threads: int,
             device: str | None, workdir: Path, on_result: ResultHook | None = None
             ) -> RuntimeRun:
    engines = _engines(bundles, kind, threads, device)
    label = engines["segmentation"].runtime.kind
    sink = _Sink(workdir / f"bench-{kind}.sqlite")
    peak = [psutil.Process().memory_info().rss]
    path = _Path(engines, sink, lambda: datetime.now(UTC))
    stages: dict[str, list[float]] = {}
    model: list[float] = []
    ran = {"ipp": 0, "forecast": 0}
    try:
        path.analyser.warmup()
        path.run(paths[0], -1)  # one full frame, not timed
        path = _Path(engines, sink, lambda: datetime.now(UTC))  # fresh well history
        began = time.perf_counter()
        for i, file in enumerate(paths):
            times, model_ms, result = path.run(file, i)
            for stage, ms in times.items():
                stages.setdefault(stage, []).append(ms)
            model.append(model_ms)
            if on_result is not None:
                on_result(label, result)
            ran["ipp"] += result.predictions is not None
            ran["forecast"] += bool(result.forecast and result.forecast.ssim is not None)
            peak.append(psutil.Process().memory_info().rss)
        elapsed = time.perf_counter() - began
    finally:
        sink.close()
        for engine in engines.values():
            engine.close()
    order = sorted(stages, key=lambda s: STAGES.index(s) if s in STAGES else len(STAGES))
    return RuntimeRun(label, {k: statistics.median(stages[k]) for k in order},
                      {k: p99(stages[k]) for k in order}, statistics.median(model),
                      len(paths) / elapsed, max(peak) / 2**20,
                      ipp_frames=ran["ipp"], forecast_frames=ran["forecast"])


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
                    kinds: list[tuple[str, str | None]] | None = None, seed: int = 2,
                    on_result: ResultHook | None = None) -> EngineBenchReport:
    """Time ``n`` frames of ``size`` x ``size`` uint16 through the path, per runtime.

    Bundles: ``bundles`` by task, else the installed defaults, else ``models`` (zoo names,
    default :data:`DEFAULT_MODELS`) exported with random weights into a temporary folder.
    ``seed`` picks the rendered spheroid; the default one is fit for verdicts under the
    shipped segmentation engine, so IPP and the forecaster run on every frame (the report's
    ``ipp_frames`` / ``forecast_frames`` say how many did).
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
                runs.append(_measure(chosen, kind, paths, threads, device, work, on_result))
            except (RuntimeUnavailable, ParityError, RuntimeError, ImportError) as exc:
                log.warning("bench: %s on %s skipped: %s", kind, device, exc)
                runs.append(RuntimeRun(f"{kind} ({device})", {}, {}, float("nan"), 0.0, 0.0,
                                       error=str(exc)))
        names = {t: b.manifest.architecture for t, b in chosen.items()}
    return EngineBenchReport(n, size, threads, names, runs, evidence_ms=_evidence_ms())


def _evidence_ms() -> dict[str, float]:
    from edge_app.alerts.benchmark import time_protocol_rule

    timing = time_protocol_rule(96)
    return {"median": timing.median_ms, "p90": timing.p90_ms, "max": timing.max_ms,
            "frames": float(timing.frames)}


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
