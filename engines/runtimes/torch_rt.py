"""``TorchRuntime``: the PyTorch reference; on CUDA, FP16 with CUDA graphs (the GPU path
when TensorRT is missing or refuses a model). Torch is imported lazily."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engines.bundle import Bundle
from engines.runtimes.base import RuntimeUnavailable

logger = logging.getLogger(__name__)


def model_from_bundle(bundle: Bundle) -> Any:
    """Rebuild the bundle's architecture from the zoo and load its safetensors weights."""
    try:
        from engines.zoo.registry import create_model
        from engines.zoo.weights import load_weights
    except ImportError as exc:
        raise RuntimeUnavailable(f"the model zoo needs PyTorch ('pip install "
                                 f"spheroid-sentinel[train]'): {exc}") from None
    if not bundle.weights_path.is_file():
        raise RuntimeUnavailable(f"{bundle.path} has no weights.safetensors for PyTorch")
    model = create_model(bundle.manifest.architecture, **bundle.manifest.model_kwargs)
    load_weights(model, bundle.weights_path)
    return model.eval()


class TorchRuntime:
    """A ``torch.nn.Module`` behind the :class:`~engines.runtimes.base.Runtime` interface.

    On the CPU it runs FP32 under ``inference_mode`` with ``threads`` threads. On CUDA it
    runs FP16 (``fp16=True``) and captures one CUDA graph per input shape (batch size) on
    first use; if capture fails it falls back to ``torch.compile``, then to eager.

    Args:
        model: the module, or a zero-argument factory (called in ``load``).
        input_names/output_names: the forward's positional inputs and outputs, in order.
    """

    def __init__(self, model: Any | Callable[[], Any], input_names: Sequence[str],
                 output_names: Sequence[str], *, device: str = "cpu", fp16: bool | None = None,
                 cuda_graphs: bool = True, threads: int | None = None) -> None:
        self._factory = model
        self.input_names = tuple(input_names)
        self.output_names = tuple(output_names)
        self.device = device
        self.fp16 = device.startswith("cuda") if fp16 is None else fp16
        self.cuda_graphs = cuda_graphs and device.startswith("cuda")
        self.threads = threads or os.cpu_count() or 1
        self.kind = "torch_fp16" if self.fp16 else "torch"
        self.mode = "eager"
        self._model: Any = None
        self._compiled: Any = None
        self._graphs: dict[tuple, tuple[Any, list[Any], list[Any]]] = {}

    @classmethod
    def from_bundle(cls, bundle: Bundle, **kwargs: Any) -> TorchRuntime:
        return cls(lambda: model_from_bundle(bundle), bundle.input_names, bundle.output_names,
                   **kwargs)

    def load(self) -> None:
        import torch

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeUnavailable("PyTorch sees no CUDA device")
        if self.device == "cpu":
            torch.set_num_threads(self.threads)
        model = self._factory() if not isinstance(self._factory, torch.nn.Module) \
            else self._factory
        model = model.eval().to(self.device)
        self._model = model.half() if self.fp16 else model
        self.mode = "cuda_graphs" if self.cuda_graphs else "eager"

    def warmup(self) -> None:
        """Nothing model-specific to do without shapes; the first ``infer`` per batch size
        captures its graph (the engines warm up with a real-sized input)."""

    def _dtype(self) -> Any:
        import torch

        return torch.float16 if self.fp16 else torch.float32

    def _forward(self, tensors: list[Any]) -> list[Any]:
        out = self._model(*tensors)
        return list(out) if isinstance(out, tuple | list) else [out]

    def _capture(self, key: tuple, tensors: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        import torch

        static = [t.clone() for t in tensors]
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.inference_mode():
            for _ in range(3):
                self._forward(static)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.inference_mode():
            outs = self._forward(static)
        logger.debug("captured a CUDA graph for input shapes %s", key)
        return graph, static, outs

    def _run_graph(self, tensors: list[Any]) -> list[Any]:
        key = tuple(tuple(t.shape) for t in tensors)
        if key not in self._graphs:
            try:
                self._graphs[key] = self._capture(key, tensors)
            except RuntimeError as exc:  # capture unsupported for this model
                logger.warning("CUDA graph capture failed (%s); trying torch.compile", exc)
                self.cuda_graphs = False
                return self._compiled_or_eager(tensors)
        graph, static, outs = self._graphs[key]
        for dst, src in zip(static, tensors, strict=True):
            dst.copy_(src)
        graph.replay()
        return outs

    def _compiled_or_eager(self, tensors: list[Any]) -> list[Any]:
        """torch.compile once; when compiling or running the compiled model fails, eager.

        The eager module is kept, so the fallback never depends on the failed wrapper.
        """
        import torch

        if self.mode != "eager":
            try:
                if self._compiled is None:
                    self._compiled = torch.compile(self._model)
                    self.mode = "compile"
                with torch.inference_mode():
                    out = self._compiled(*tensors)
                return list(out) if isinstance(out, tuple | list) else [out]
            except Exception as exc:  # inductor/dynamo errors are of many types
                logger.warning("torch.compile failed (%s: %s); running eager",
                               type(exc).__name__, exc)
                self._compiled, self.mode = None, "eager"
        with torch.inference_mode():
            return self._forward(tensors)

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self._model is None:
            raise RuntimeError("TorchRuntime.infer before load()")
        tensors = [torch.from_numpy(np.ascontiguousarray(inputs[n], np.float32))
                   .to(self.device, self._dtype(), non_blocking=True) for n in self.input_names]
        run = self._run_graph if self.cuda_graphs else self._compiled_or_eager
        outs = run(tensors)
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outs, strict=True)}

    def close(self) -> None:
        self._graphs.clear()
        self._model = self._compiled = None
