"""The second TensorRT build path: Torch-TensorRT compiles the zoo model itself.

Where TensorRT's ONNX parser refuses a graph (or a lab wants PyTorch-side fallbacks for
unsupported ops), ``torch_tensorrt.compile(..., ir="dynamo")`` builds TensorRT engines from
the bundle's ``weights.safetensors`` and the zoo architecture, leaving what TensorRT cannot
run to PyTorch. The result is saved as an ExportedProgram in the plan cache, keyed like the
ONNX-parser plans, and parity-checked against the bundle's golden outputs before use, exactly
as those are. Written against Torch-TensorRT 2.x's documented API; the only module that
imports ``torch_tensorrt`` (lazily).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engines.bundle import Bundle
from engines.runtimes.base import RuntimeUnavailable

logger = logging.getLogger(__name__)

PRECISIONS = ("fp16", "fp32")
DEFAULT_CACHE = Path.home() / ".cache" / "spheroid-sentinel" / "plans"


def import_torch_tensorrt() -> Any:
    """``torch_tensorrt``, or :class:`RuntimeUnavailable` saying how to get it."""
    try:
        import torch_tensorrt
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"Torch-TensorRT is not installed ({exc}); install the 'gpu' extra "
            "('pip install spheroid-sentinel[gpu]') on a PC with an NVIDIA GPU"
        ) from None
    return torch_tensorrt


def program_path(bundle: Bundle, precision: str, gpu_name: str, versions: str,
                 cache_dir: Path) -> Path:
    """Cache file of one compiled program: valid for one bundle, GPU model, precision and
    torch / Torch-TensorRT version pair."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {list(PRECISIONS)}")
    text = "|".join((bundle.digest, gpu_name.strip(), versions, precision))
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    return Path(cache_dir) / f"torchtrt-{precision}-{digest}.ep"


def input_specs(bundle: Bundle, max_batch: int) -> list[tuple[str, tuple, tuple, tuple]]:
    """(name, min, opt, max) shapes per input: dynamic batch 1..``max_batch``."""
    specs = []
    for spec in bundle.manifest.input.tensors:
        rest = tuple(spec.shape[1:])
        specs.append((spec.name, (1, *rest), (min(8, max_batch), *rest), (max_batch, *rest)))
    return specs


def build_program(bundle: Bundle, *, precision: str = "fp16", cache_dir: Path = DEFAULT_CACHE,
                  max_batch: int = 16, rebuild: bool = False) -> Path:
    """Compile the bundle's zoo model with Torch-TensorRT (or reuse the cached program).

    Raises:
        RuntimeUnavailable: no CUDA / Torch-TensorRT / weights; RuntimeError: compilation failed.
    """
    torch_trt = import_torch_tensorrt()
    import torch

    from engines.runtimes.torch_rt import model_from_bundle

    if not torch.cuda.is_available():
        raise RuntimeUnavailable("Torch-TensorRT needs a CUDA device; PyTorch sees none")
    versions = f"torch {torch.__version__}, torch-tensorrt {torch_trt.__version__}"
    path = program_path(bundle, precision, torch.cuda.get_device_name(0), versions, cache_dir)
    if path.is_file() and not rebuild:
        logger.info("Torch-TensorRT program cache hit: %s", path)
        return path
    dtype = torch.half if precision == "fp16" else torch.float32
    model = model_from_bundle(bundle).cuda().to(dtype).eval()
    specs = input_specs(bundle, max_batch)
    inputs = [torch_trt.Input(min_shape=low, opt_shape=opt, max_shape=high, dtype=dtype,
                              name=name) for name, low, opt, high in specs]
    examples = [torch.zeros(opt, dtype=dtype, device="cuda") for _, _, opt, _ in specs]
    compiled = torch_trt.compile(model, ir="dynamo", inputs=inputs, enabled_precisions={dtype})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch_trt.save(compiled, str(path), output_format="exported_program", inputs=examples)
    logger.info("built Torch-TensorRT %s program %s", precision, path)
    return path


class TorchTensorRTRuntime:
    """A saved Torch-TensorRT program behind the Runtime interface."""

    def __init__(self, program: str | Path, input_names: tuple[str, ...],
                 output_names: tuple[str, ...], *, precision: str = "fp16") -> None:
        self.program = Path(program)
        self.input_names, self.output_names = input_names, output_names
        self.precision = precision
        self.kind = f"torch_tensorrt_{precision}"
        self.device = "cuda"
        self._module: Any = None

    def load(self) -> None:
        import_torch_tensorrt()  # registers the TensorRT ops the program calls
        import torch

        if not self.program.is_file():
            raise RuntimeUnavailable(f"no Torch-TensorRT program at {self.program}; run "
                                     "'sentinel engines build BUNDLE --via torch-tensorrt'")
        self._module = torch.export.load(str(self.program)).module()

    def warmup(self) -> None:
        """The golden-input parity check that follows load runs the program once."""

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        if self._module is None:
            raise RuntimeError("TorchTensorRTRuntime.infer before load()")
        dtype = torch.half if self.precision == "fp16" else torch.float32
        tensors = [torch.from_numpy(np.ascontiguousarray(inputs[n], np.float32))
                   .to("cuda", dtype) for n in self.input_names]
        with torch.inference_mode():
            out = self._module(*tensors)
        outs = list(out) if isinstance(out, tuple | list) else [out]
        return {n: o.float().cpu().numpy() for n, o in zip(self.output_names, outs, strict=True)}

    def close(self) -> None:
        self._module = None
