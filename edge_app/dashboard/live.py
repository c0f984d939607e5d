"""What the status bar says about a live run, without Qt: engines, runtimes, pipeline state."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

RUNTIME_NAMES = {"tensorrt": "TensorRT", "torch": "PyTorch", "onnx": "ONNX Runtime"}


def runtime_name(runtime: Any) -> str:
    """``TensorRT``, ``PyTorch CUDA``, ``ONNX Runtime CPU``... from a runtime object."""
    kind = str(getattr(runtime, "kind", "") or "")
    base = next((v for k, v in RUNTIME_NAMES.items() if kind.startswith(k)), kind or "?")
    if base == "TensorRT":
        return base
    device = str(getattr(runtime, "device", "cpu") or "cpu")
    return f"{base} {'CUDA' if device.startswith('cuda') else 'CPU'}"


def describe_engines(pipeline: Any) -> dict[str, str]:
    """Stage -> "engine (runtime)" of a running pipeline; the classical fallback has none."""
    analyser = getattr(pipeline, "analyser", None)
    stages = {"segmentation": getattr(analyser, "segmenter", None),
              "ipp": getattr(analyser, "ipp", None),
              "forecast": getattr(getattr(analyser, "history", None), "forecaster", None)}
    out = {}
    for stage, engine in stages.items():
        if engine is None:
            out[stage] = "off"
            continue
        runtime = getattr(engine, "runtime", None)
        name = str(getattr(engine, "name", type(engine).__name__))
        out[stage] = f"{name} ({runtime_name(runtime)})" if runtime is not None else name
    return out


RECORDED_RUNTIMES = {"onnx": "ONNX Runtime", "torch": "PyTorch", "tensorrt": "TensorRT",
                     "cpu": "CPU"}


def recorded_run(store: Any) -> RunInfo | None:
    """What the store's last run recorded: its source and engines (``engine_runs``)."""
    row = store.db.execute("select source, engines from engine_runs order by id desc limit 1"
                           ).fetchone()
    if row is None:
        return None
    try:
        engines = json.loads(row[1] or "{}")
    except ValueError:
        engines = {}
    described = {}
    for stage, record in engines.items():
        if isinstance(record, dict):
            runtime = str(record.get("runtime") or "")
            name = RECORDED_RUNTIMES.get(runtime.split("_")[0], runtime)
            described[stage] = f"{record.get('name', '?')} ({name})"
    return RunInfo(source=f"finished run from {row[0]}", engines=described)


@dataclass(frozen=True)
class RunInfo:
    """The status bar's inputs: where frames come from and which engines run."""

    source: str = "finished run"
    engines: dict[str, str] = field(default_factory=dict)


def status_line(status: Any | None) -> dict[str, str]:
    """Status-bar fields of a ``PipelineStatus`` (or ``None`` when no pipeline runs)."""
    if status is None:
        return {"state": "no acquisition", "rate": "", "queue": "", "latency": ""}

    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value:.0f} ms"

    return {
        "state": str(getattr(status.state, "value", status.state)),
        "rate": f"{status.frames_per_s:.1f} frames/s",
        "queue": f"queue {status.queue_depth}",
        "latency": f"latency p50 {ms(status.latency_ms_median)} · p99 {ms(status.latency_ms_p99)}",
    }
