"""INT8 by explicit quantization: Q/DQ nodes inserted into the ONNX model by NVIDIA ModelOpt.

TensorRT 10.1 deprecated its implicit-quantization calibrators in favour of explicit
quantization; ModelOpt's ``modelopt.onnx.quantization.quantize`` calibrates activation ranges
on the frames given (entropy by default) and writes an ONNX model with Q/DQ nodes that
TensorRT builds as a strongly typed network. ModelOpt comes with the ``gpu`` extra and is
imported lazily, here only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from engines.runtimes.base import RuntimeUnavailable

logger = logging.getLogger(__name__)

CALIBRATION_METHODS = ("entropy", "max")


def _modelopt_quantize() -> Any:
    try:
        from modelopt.onnx.quantization import quantize
    except ImportError as exc:
        raise RuntimeUnavailable(
            f"INT8 needs NVIDIA ModelOpt for explicit (Q/DQ) quantization ({exc}); install "
            "the 'gpu' extra ('pip install spheroid-sentinel[gpu]') or build --fp16"
        ) from None
    return quantize


def calibration_arrays(calibration: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The calibration inputs as contiguous float32 arrays with one shared frame count."""
    counts = {name: len(array) for name, array in calibration.items()}
    if not counts or len(set(counts.values())) != 1 or 0 in counts.values():
        raise ValueError(f"calibration inputs need the same, non-zero count; got {counts}")
    return {name: np.ascontiguousarray(array, np.float32) for name, array in calibration.items()}


def quantize_int8(onnx_path: Path, calibration: dict[str, np.ndarray], out_path: Path, *,
                  method: str = "entropy") -> Path:
    """Write ``out_path``: ``onnx_path`` with INT8 Q/DQ nodes calibrated on ``calibration``.

    Raises:
        RuntimeUnavailable: ModelOpt is not installed.
        ValueError: an unknown method, or calibration inputs of unequal count.
        RuntimeError: ModelOpt wrote no model.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"unknown calibration method {method!r}; valid: "
                         f"{list(CALIBRATION_METHODS)}")
    arrays = calibration_arrays(calibration)
    quantize = _modelopt_quantize()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    logger.info("INT8: inserting Q/DQ nodes into %s (%s calibration, %d frames)",
                onnx_path.name, method, len(next(iter(arrays.values()))))
    quantize(onnx_path=str(onnx_path), quantize_mode="int8", calibration_data=arrays,
             calibration_method=method, high_precision_dtype="fp16", output_path=str(out_path))
    if not out_path.is_file():
        raise RuntimeError(f"ModelOpt wrote no quantized model at {out_path}")
    return out_path
