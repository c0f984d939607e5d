"""GPU model check: PyTorch eager FP32 vs the GPU runtimes on CUDA, parity and timings.

Run on a PC (or lent machine) with an NVIDIA GPU::

    OUT=gpu-check python -m engines.gpucheck [--quick]

For the default CPU-sized engines and CoAtNet-0 / RefineNet at paper size (random weights):
bundle export, TorchRuntime FP16 + CUDA graphs parity vs golden, median ms at batch 1 and 8
against eager FP32. TensorRT plans are built and checked too when ``tensorrt`` imports.
Writes ``gpu_check.json`` and ``gpu_check.md`` under ``$OUT``.

This is the engines-only part (models and runtimes; ``engines`` cannot import the app). The
whole GPU check, with the per-frame path through the app's own ``FrameAnalyser``, is
``python -m edge_app.bench.gpucheck``: it runs these model checks, then that path.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_SET = ("unet_mobilenetv2_cpu", "fusion_cpu", "convlstm_cpu")
PAPER_SET = ("coatnet0_ipp", "refinenet_r34")


def _median_ms(fn: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> float:
    for _ in range(3):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _batch(inputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: np.ascontiguousarray(np.resize(v, (n, *v.shape[1:]))) for k, v in inputs.items()}


def check_model(name: str, work: Path, repeats: int) -> dict[str, Any]:
    """Export one zoo model, then time eager FP32 vs FP16 CUDA graphs (and TensorRT)."""
    import torch

    from engines.export import export_untrained
    from engines.runtimes.base import measure_parity
    from engines.runtimes.select import open_checked
    from engines.runtimes.torch_rt import TorchRuntime

    bundle = export_untrained(name, work / name)
    inputs, _ = bundle.golden()
    sync = torch.cuda.synchronize
    row: dict[str, Any] = {"model": name, "task": bundle.manifest.task}
    eager = open_checked(TorchRuntime.from_bundle(bundle, device="cuda", fp16=False,
                                                  cuda_graphs=False), bundle)
    fast = open_checked(TorchRuntime.from_bundle(bundle, device="cuda"), bundle)
    row["parity_fp16"] = measure_parity(fast, bundle).describe()
    for n in (1, 8):
        x = _batch(inputs, n)
        row[f"eager_fp32_ms_b{n}"] = _median_ms(lambda x=x: eager.infer(x), repeats, sync)
        row[f"fp16_graphs_ms_b{n}"] = _median_ms(lambda x=x: fast.infer(x), repeats, sync)
        row[f"speedup_b{n}"] = row[f"eager_fp32_ms_b{n}"] / row[f"fp16_graphs_ms_b{n}"]
    row["mode"] = fast.mode
    eager.close()
    fast.close()
    if importlib.util.find_spec("tensorrt") is not None:
        row.update(_check_tensorrt(bundle, inputs, repeats, sync))
    return row


def _check_tensorrt(bundle: Any, inputs: dict[str, np.ndarray], repeats: int,
                    sync: Callable[[], None]) -> dict[str, Any]:
    from engines.runtimes import tensorrt_rt
    from engines.runtimes.base import measure_parity
    from engines.runtimes.select import open_checked

    try:
        plan = tensorrt_rt.build_plan(bundle, precision="fp16")
        trt = open_checked(tensorrt_rt.TensorRTRuntime(plan), bundle)
    except Exception as exc:  # report any refusal in the table, go on with the others
        return {"tensorrt": f"refused: {exc}"}
    out = {"tensorrt": measure_parity(trt, bundle).describe()}
    for n in (1, 8):
        x = _batch(inputs, n)
        out[f"tensorrt_fp16_ms_b{n}"] = _median_ms(lambda x=x: trt.infer(x), repeats, sync)
    trt.close()
    return out


def markdown(rows: list[dict[str, Any]], device: str, extra: list[str] | None = None) -> str:
    """The model table (and ``extra`` lines below it) as Markdown."""
    lines = [f"# GPU check on {device}", "",
             "| model | eager FP32 b1 | FP16+graphs b1 | x | eager FP32 b8 | FP16+graphs b8 "
             "| x | parity (FP16) | TensorRT |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error']} |||||||")
            continue
        lines.append(
            f"| {r['model']} | {r['eager_fp32_ms_b1']:.2f} | {r['fp16_graphs_ms_b1']:.2f} | "
            f"{r['speedup_b1']:.1f} | {r['eager_fp32_ms_b8']:.2f} | {r['fp16_graphs_ms_b8']:.2f}"
            f" | {r['speedup_b8']:.1f} | {r['parity_fp16']} | "
            f"{r.get('tensorrt', 'not installed')} |")
    lines += ["", *(extra or [])]
    return "\n".join(lines) + "\n"


def model_checks(work: Path, repeats: int, quick: bool) -> list[dict[str, Any]]:
    """:func:`check_model` for the default set (and the paper set unless ``quick``); a model
    that fails is a row with its error, so the others' figures still come out."""
    rows: list[dict[str, Any]] = []
    for name in DEFAULT_SET + (() if quick else PAPER_SET):
        try:
            rows.append(check_model(name, work, repeats))
        except Exception as exc:  # one model failing must not hide the others' figures
            logger.exception("%s failed", name)
            rows.append({"model": name, "error": str(exc)[:300]})
        logger.info("%s", rows[-1])
    return rows


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="default set only, fewer runs")
    parser.add_argument("--repeats", type=int, default=50)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv, __doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    import torch

    if not torch.cuda.is_available():
        logger.error("no CUDA device: this check needs an NVIDIA GPU")
        return 2
    out = Path(os.environ.get("OUT", "."))
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        rows = model_checks(Path(tmp), 15 if args.quick else args.repeats, args.quick)
    (out / "gpu_check.json").write_text(json.dumps({"device": device, "models": rows},
                                                   indent=2))
    (out / "gpu_check.md").write_text(markdown(rows, device))
    logger.info("\n%s", markdown(rows, device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
