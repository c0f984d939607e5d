"""The whole GPU check: the engines' model checks, then the app's per-frame path on CUDA.

Run on a PC (or lent machine) with an NVIDIA GPU::

    OUT=gpu-check python -m edge_app.bench.gpucheck [--quick]

1. :mod:`engines.gpucheck`'s model checks (eager FP32 vs FP16 + CUDA graphs, parity against
   the golden outputs, TensorRT when it imports).
2. The per-frame path: the installed engines (the shipped, trained ones; random-weight
   zoo models only where none is installed, and then the analyser may find the frames unfit
   and skip IPP and the forecast, which the table's last row shows) driven by the app's own
   :class:`~edge_app.pipeline.analysis.FrameAnalyser` through the same code as ``sentinel
   bench`` (:func:`frame_path`), batch 1, on 2048 x 2048 uint16 frames, for PyTorch eager
   on the CPU (the reference), ONNX Runtime, PyTorch FP16 + CUDA graphs and TensorRT; stage
   medians and p99 are the analyser's own timings.

Writes ``gpu_check.json`` and ``gpu_check.md`` under ``$OUT``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def frame_path(n: int = 20, size: int = 2048, *, kinds: list[tuple[str, str | None]],
               bundles: dict[str, Path] | None = None, threads: int | None = None,
               on_result: Any | None = None) -> Any:
    """The per-frame path per runtime: ``sentinel bench``'s measurement on ``kinds``.

    Models: ``bundles`` by task, else the installed ones, else the bench's CPU-sized zoo
    models with random weights.
    """
    from edge_app.bench.engine_speed import measure_engines

    return measure_engines(n, size, bundles=bundles, threads=threads, kinds=kinds,
                           on_result=on_result)


def path_lines(report: Any) -> list[str]:
    """The per-frame path as Markdown lines (stage median / p99 per runtime)."""
    ok = [r for r in report.runs if r.error is None]
    lines = [f"## Per-frame path (FrameAnalyser), {report.frames} frames "
             f"{report.size}x{report.size}, batch 1", "",
             "| stage (ms median / p99) | " + " | ".join(r.runtime for r in ok) + " |",
             "|---|" + "---|" * len(ok)]
    for stage in (ok[0].stage_ms_median if ok else {}):
        lines.append(f"| {stage} | " + " | ".join(
            f"{r.stage_ms_median[stage]:.2f} / {r.stage_ms_p99[stage]:.2f}" for r in ok) + " |")
    lines.append("| models (inside runtimes) | "
                 + " | ".join(f"{r.model_ms_median:.2f}" for r in ok) + " |")
    lines.append("| frames/s | " + " | ".join(f"{r.frames_per_s:.2f}" for r in ok) + " |")
    lines.append("| frames with IPP / forecast | "
                 + " | ".join(f"{r.ipp_frames} / {r.forecast_frames}" for r in ok) + " |")
    lines += [f"- {r.runtime}: not run: {r.error}" for r in report.runs if r.error]
    return lines


def main(argv: list[str] | None = None) -> int:
    from engines import gpucheck

    args = gpucheck.parse_args(argv, __doc__.splitlines()[0])
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    import torch

    if not torch.cuda.is_available():
        logger.error("no CUDA device: this check needs an NVIDIA GPU")
        return 2
    out = Path(os.environ.get("OUT", "."))
    out.mkdir(parents=True, exist_ok=True)
    device = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        rows = gpucheck.model_checks(Path(tmp), 15 if args.quick else args.repeats,
                                     args.quick)
    kinds = [("torch", "cpu"), ("onnx", None), ("torch", "cuda"), ("tensorrt", "cuda")]
    report = frame_path(10 if args.quick else 30, kinds=kinds)
    lines = path_lines(report)
    (out / "gpu_check.json").write_text(json.dumps(
        {"device": device, "models": rows, "path": json.loads(report.to_json())}, indent=2))
    (out / "gpu_check.md").write_text(gpucheck.markdown(rows, device, lines))
    logger.info("\n%s", gpucheck.markdown(rows, device, lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
