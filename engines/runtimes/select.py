"""Choosing a runtime for a bundle (``auto`` logs why), and falling back at run time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from psygnal import Signal

from engines.bundle import Bundle
from engines.runtimes.base import ParityError, Runtime, RuntimeUnavailable, check_parity
from engines.runtimes.onnx_rt import OnnxRuntime

logger = logging.getLogger(__name__)

KINDS = ("auto", "tensorrt", "torch", "onnx")


def cuda_device() -> tuple[bool, str]:
    """Whether an NVIDIA GPU is usable here, and why (or why not)."""
    try:
        import torch
    except ImportError:
        import onnxruntime as ort

        if "CUDAExecutionProvider" in ort.get_available_providers():
            return True, "ONNX Runtime has a CUDA provider (PyTorch not installed)"
        return False, "no NVIDIA GPU runtime here (PyTorch not installed, ONNX Runtime CPU-only)"
    if torch.cuda.is_available():
        return True, f"NVIDIA GPU {torch.cuda.get_device_name(0)}"
    return False, "no NVIDIA GPU visible (torch.cuda.is_available() is False)"


@dataclass(frozen=True)
class EngineEvent:
    """Something an engine's runtime did that the operator should know (e.g. a fallback)."""

    engine: str
    kind: str
    message: str
    at: datetime


class FallbackRuntime:
    """Runs ``primary``; when it raises at run time, switches to ``fallback`` for good.

    ``fallback`` makes a ready (loaded) runtime; it is only called on the first failure.

    The switch emits :attr:`engine_event` (an :class:`EngineEvent`) so the pipeline can
    raise an alert; the failed batch is re-run on the fallback, so no frame is lost.
    """

    engine_event = Signal(object)

    def __init__(self, primary: Runtime, fallback: Callable[[], Runtime], *, engine: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.primary = primary
        self._make_fallback = fallback
        self.engine = engine
        self.clock = clock
        self.active: Runtime = primary
        self.fell_back = False

    @property
    def kind(self) -> str:
        return self.active.kind

    @property
    def device(self) -> str:
        return self.active.device

    def load(self) -> None:
        self.primary.load()

    def warmup(self) -> None:
        self.active.warmup()

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.fell_back:
            return self.active.infer(inputs)
        try:
            return self.primary.infer(inputs)
        except Exception as exc:  # any failure of the primary: switch, report, re-run
            replacement = self._make_fallback()  # loaded and parity-checked
            message = (f"{self.engine}: {self.primary.kind} failed at run time ({exc}); "
                       f"falling back to {replacement.kind}")
            logger.error(message)
            self.active, self.fell_back = replacement, True
            self._close_quietly(self.primary)
            self.engine_event.emit(EngineEvent(self.engine, "runtime_fallback", message,
                                               self.clock()))
            return replacement.infer(inputs)

    @staticmethod
    def _close_quietly(runtime: Runtime) -> None:
        try:
            runtime.close()
        except Exception as exc:  # closing a broken runtime may fail too; the switch stands
            logger.warning("closing the failed runtime raised: %s", exc)

    def close(self) -> None:
        self.active.close()


def _onnx(bundle: Bundle, device: str, threads: int | None) -> Runtime:
    return OnnxRuntime(bundle.onnx_path, device=device, threads=threads)


def _torch(bundle: Bundle, device: str, threads: int | None) -> Runtime:
    from engines.runtimes.torch_rt import TorchRuntime

    return TorchRuntime.from_bundle(bundle, device=device, threads=threads)


def _tensorrt(bundle: Bundle, plan_cache: Path | None, precision: str) -> Runtime:
    from engines.runtimes import tensorrt_rt

    kwargs = {"cache_dir": plan_cache} if plan_cache is not None else {}
    plan = tensorrt_rt.build_plan(bundle, precision=precision, **kwargs)
    return tensorrt_rt.TensorRTRuntime(plan, precision=precision)


def open_checked(runtime: Runtime, bundle: Bundle) -> Runtime:
    """Load, warm up and parity-check ``runtime``; close it and re-raise on any failure."""
    try:
        runtime.load()
        runtime.warmup()
        check_parity(runtime, bundle)
    except BaseException:
        runtime.close()
        raise
    return runtime


def _candidates(bundle: Bundle, kind: str, gpu: bool, threads: int | None,
                plan_cache: Path | None, precision: str) -> list[tuple[str, Callable[[], Any]]]:
    onnx_cpu = ("onnx (cpu)", lambda: _onnx(bundle, "cpu", threads))
    table: dict[str, list[tuple[str, Callable[[], Any]]]] = {
        "onnx": [("onnx (cuda)", lambda: _onnx(bundle, "cuda", threads))] if gpu else [onnx_cpu],
        "torch": [("torch (cuda fp16)", lambda: _torch(bundle, "cuda", threads))] if gpu
        else [("torch (cpu)", lambda: _torch(bundle, "cpu", threads))],
        "tensorrt": [("tensorrt", lambda: _tensorrt(bundle, plan_cache, precision))],
    }
    if kind != "auto":
        return table[kind]
    if not gpu:
        return [onnx_cpu]
    return [*table["tensorrt"], *table["torch"], *table["onnx"], onnx_cpu]


def select_runtime(bundle: Bundle, kind: str = "auto", *, device: str | None = None,
                   threads: int | None = None, plan_cache: Path | None = None,
                   precision: str = "fp16") -> Runtime:
    """A loaded, warmed, parity-checked runtime for ``bundle``.

    ``auto``: TensorRT, then PyTorch CUDA FP16, then ONNX Runtime CUDA on an NVIDIA GPU;
    ONNX Runtime on the CPU otherwise. Each choice and each refusal is logged with its
    reason; a TensorRT runtime is wrapped in :class:`FallbackRuntime` (to ONNX Runtime).

    Raises:
        ValueError: unknown kind. ParityError / RuntimeUnavailable: an explicit ``kind``
        that cannot run or disagrees with the golden outputs (the message has the error).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown runtime {kind!r}; valid: {list(KINDS)}")
    if device is None:
        gpu, why = cuda_device()
    else:
        gpu, why = device.startswith("cuda"), f"device {device!r} requested"
    name = f"{bundle.manifest.task}:{bundle.manifest.architecture}"
    refusals = []
    for label, make in _candidates(bundle, kind, gpu, threads, plan_cache, precision):
        try:
            runtime = open_checked(make(), bundle)
        except (RuntimeUnavailable, ParityError, RuntimeError, OSError) as exc:
            if kind != "auto":
                raise
            logger.warning("%s: not using %s: %s", name, label, exc)
            refusals.append(f"{label}: {exc}")
            continue
        logger.info("%s: runtime %s (%s; %s)", name, label, why,
                    "requested" if kind != "auto" else "auto choice")
        if label == "tensorrt":
            return FallbackRuntime(runtime, lambda: open_checked(
                _onnx(bundle, "cpu", threads), bundle), engine=name)
        return runtime
    raise RuntimeUnavailable(f"{name}: no runtime passed: {refusals}")
