"""TensorRT: plan builder (ONNX parser, FP16 default, INT8 by explicit quantization), plan
cache, and ``TensorRTRuntime``. The only module that imports ``tensorrt`` (lazily).

INT8 follows TensorRT 10's current route: the implicit-quantization calibrators
(``IInt8EntropyCalibrator2`` and friends) are deprecated since 10.1 in favour of explicit
quantization, so the ONNX model first gets Q/DQ nodes from NVIDIA ModelOpt
(:mod:`engines.runtimes.quantize`, calibrated on real frames) and is then built as a
strongly typed network, whose precisions come from the graph itself.

Written against TensorRT 10's documented Python API (explicit batch, named I/O tensors,
``execute_async_v3``); device buffers are PyTorch CUDA tensors.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engines.bundle import Bundle
from engines.runtimes.base import RuntimeUnavailable

logger = logging.getLogger(__name__)

PRECISIONS = ("fp16", "int8", "fp32")
DEFAULT_CACHE = Path.home() / ".cache" / "spheroid-sentinel" / "plans"


def import_tensorrt() -> Any:
    """``tensorrt``, or :class:`RuntimeUnavailable` saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"TensorRT is not installed ({exc}); install the 'gpu' extra "
            "('pip install spheroid-sentinel[gpu]') on a PC with an NVIDIA GPU"
        ) from None
    return tensorrt


@dataclass(frozen=True)
class PlanKey:
    """What a serialized plan depends on: it is only valid for the same GPU model, compute
    capability, TensorRT version, bundle content and precision."""

    gpu_name: str
    compute_capability: tuple[int, int]
    tensorrt_version: str
    bundle_digest: str
    precision: str

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid: {list(PRECISIONS)}")

    @property
    def digest(self) -> str:
        cc = f"{self.compute_capability[0]}.{self.compute_capability[1]}"
        text = "|".join((self.gpu_name.strip(), cc, self.tensorrt_version,
                         self.bundle_digest, self.precision))
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def plan_path(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / f"{self.precision}-{self.digest}.plan"


def current_plan_key(bundle: Bundle, precision: str = "fp16", device: int = 0) -> PlanKey:
    """The :class:`PlanKey` for this PC's GPU ``device`` and installed TensorRT."""
    trt = import_tensorrt()
    import torch

    if not torch.cuda.is_available():
        raise RuntimeUnavailable("no CUDA device visible to build or run a TensorRT plan")
    return PlanKey(torch.cuda.get_device_name(device), torch.cuda.get_device_capability(device),
                   trt.__version__, bundle.digest, precision)


def _profile_shapes(bundle: Bundle, max_batch: int) -> dict[str, tuple[tuple, tuple, tuple]]:
    shapes = {}
    for spec in bundle.manifest.input.tensors:
        rest = tuple(spec.shape[1:])
        shapes[spec.name] = ((1, *rest), (min(8, max_batch), *rest), (max_batch, *rest))
    return shapes


def network_flags(trt: Any, precision: str) -> int:
    """Network creation flags: explicit batch is implied in TensorRT 10; an explicitly
    quantized (Q/DQ) INT8 model is built strongly typed."""
    if precision == "int8":
        return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return 0


def build_plan(bundle: Bundle, *, precision: str = "fp16", cache_dir: Path = DEFAULT_CACHE,
               max_batch: int = 16, calibration: dict[str, np.ndarray] | None = None,
               workspace_gb: float = 2.0, rebuild: bool = False) -> Path:
    """Build (or reuse from the cache) a TensorRT plan for ``bundle`` on this GPU.

    Raises:
        RuntimeUnavailable: no TensorRT / CUDA; ValueError: INT8 without calibration frames;
        RuntimeError: TensorRT refused the model (parser or builder errors listed).
    """
    key = current_plan_key(bundle, precision)
    path = key.plan_path(cache_dir)
    if path.is_file() and not rebuild:
        logger.info("TensorRT plan cache hit: %s", path)
        return path
    if precision == "int8" and not calibration:
        raise ValueError("INT8 needs calibration frames (golden or training inputs)")
    onnx_path = bundle.onnx_path
    if precision == "int8":
        from engines.runtimes.quantize import quantize_int8

        assert calibration is not None
        onnx_path = quantize_int8(bundle.onnx_path, calibration, path.with_suffix(".qdq.onnx"))
    trt = import_tensorrt()
    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    network = builder.create_network(network_flags(trt, precision))
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT's ONNX parser refused {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * 2**30))
    if precision == "fp16":  # a strongly typed (INT8 Q/DQ) network takes no precision flags
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in _profile_shapes(bundle, max_batch).items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise RuntimeError(f"TensorRT could not build a {precision} plan for "
                           f"{bundle.manifest.architecture}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(plan))
    logger.info("built TensorRT %s plan %s", precision, path)
    return path


class TensorRTRuntime:
    """A serialized TensorRT plan behind the Runtime interface (batch 1..the plan's max)."""

    def __init__(self, plan_path: str | Path, *, precision: str = "fp16", device: str = "cuda"
                 ) -> None:
        self.plan_path = Path(plan_path)
        self.device = device
        self.kind = f"tensorrt_{precision}"
        self._engine: Any = None
        self._context: Any = None
        self._inputs: list[str] = []
        self._outputs: list[str] = []

    def load(self) -> None:
        trt = import_tensorrt()
        if not self.plan_path.is_file():
            raise RuntimeUnavailable(f"no TensorRT plan at {self.plan_path}; run "
                                     "'sentinel engines build BUNDLE'")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = runtime.deserialize_cuda_engine(self.plan_path.read_bytes())
        if self._engine is None:
            raise RuntimeUnavailable(f"{self.plan_path} does not load with this TensorRT/GPU; "
                                     "rebuild it with 'sentinel engines build'")
        self._context = self._engine.create_execution_context()
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = [self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names]
        self._inputs = [n for n, i in zip(names, is_input, strict=True) if i]
        self._outputs = [n for n, i in zip(names, is_input, strict=True) if not i]

    def warmup(self) -> None:
        shapes = {n: tuple(max(1, d) for d in self._engine.get_tensor_shape(n))
                  for n in self._inputs}
        self.infer({n: np.zeros(s, np.float32) for n, s in shapes.items()})

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self._context is None:
            raise RuntimeError("TensorRTRuntime.infer before load()")
        keep = {}
        for name in self._inputs:
            tensor = torch.from_numpy(np.ascontiguousarray(inputs[name], np.float32)).cuda()
            keep[name] = tensor
            self._context.set_input_shape(name, tuple(tensor.shape))
            self._context.set_tensor_address(name, int(tensor.data_ptr()))
        outs = {}
        for name in self._outputs:
            shape = tuple(self._context.get_tensor_shape(name))
            outs[name] = torch.empty(shape, dtype=torch.float32, device="cuda")
            self._context.set_tensor_address(name, int(outs[name].data_ptr()))
        stream = torch.cuda.current_stream()
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution failed for {self.plan_path.name}")
        stream.synchronize()
        return {n: t.cpu().numpy() for n, t in outs.items()}

    def close(self) -> None:
        self._context = None
        self._engine = None
