"""``OnnxRuntime``: ONNX Runtime on the CPU (or its CUDA provider where present)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from engines.runtimes.base import RuntimeUnavailable

logger = logging.getLogger(__name__)


class OnnxRuntime:
    """One ``model.onnx`` in an ONNX Runtime session; dynamic batch from the file.

    Args:
        model_path: the ONNX file (a bundle's ``onnx_path``).
        device: ``"cpu"`` or ``"cuda"`` (needs ``CUDAExecutionProvider``).
        threads: intra-op threads (default: the CPU count).
    """

    def __init__(self, model_path: str | Path, *, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        self.device = device
        self.threads = threads or os.cpu_count() or 1
        self.kind = "onnx"
        self._session = None
        self._output_names: list[str] = []

    def load(self) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise RuntimeUnavailable("ONNX Runtime has no CUDAExecutionProvider here "
                                         "(install onnxruntime-gpu)")
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle pool threads must not spin: on a 2-core PC they would steal the CPU from the
        # pipeline's other stages (pre/post-processing, store) between inferences.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(self.model_path), options, providers=providers)
        self._output_names = [o.name for o in self._session.get_outputs()]
        logger.debug("onnx session %s on %s, %d threads", self.model_path.name,
                     self._session.get_providers()[0], self.threads)

    def _input_shapes(self) -> dict[str, tuple[int, ...]]:
        assert self._session is not None
        return {i.name: tuple(d if isinstance(d, int) else 1 for d in i.shape)
                for i in self._session.get_inputs()}

    def warmup(self) -> None:
        """One batch-1 run on zeros (allocations and kernel choice paid up front)."""
        self.infer({n: np.zeros(s, np.float32) for n, s in self._input_shapes().items()})

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise RuntimeError("OnnxRuntime.infer before load()")
        feed = {n: np.ascontiguousarray(a, np.float32) for n, a in inputs.items()}
        outs = self._session.run(self._output_names, feed)
        return dict(zip(self._output_names, outs, strict=True))

    def close(self) -> None:
        self._session = None
