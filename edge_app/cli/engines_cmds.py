"""``sentinel engines list | verify | build`` and ``sentinel predict``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_app.cli import app, configure_logging, run_command
from edge_app.cli.output import console

engines_app = typer.Typer(help="Engine bundles: list, verify, build TensorRT plans.",
                          no_args_is_help=True)
app.add_typer(engines_app, name="engines")

RuntimeOption = Annotated[str, typer.Option(help="auto | tensorrt | torch | onnx.")]
LogOption = Annotated[str, typer.Option(help="Logging level.")]


def _run(body: Callable[[], Any]) -> Any:
    """:func:`run_command`, with runtime refusals also shown as one-line errors."""
    from engines.runtimes.base import ParityError, RuntimeUnavailable

    def guarded() -> Any:
        try:
            return body()
        except (ParityError, RuntimeUnavailable) as exc:
            raise ValueError(str(exc)) from None

    return run_command(guarded)


def _bundle_dirs(root: Path | None) -> list[Path]:
    base = root or Path(__file__).resolve().parents[2] / "engines" / "bundles"
    return sorted(p.parent for p in base.glob("**/manifest.json")) if base.is_dir() else []


@engines_app.command("list")
def list_engines(
    root: Annotated[Path | None, typer.Option(help="Folder holding bundles.")] = None,
) -> None:
    """List installed engine bundles and the runtimes this PC offers.

    Example: sentinel engines list
    """

    def body() -> None:
        from engines.bundle import BundleError, load_bundle
        from engines.runtimes.select import cuda_device

        folders = _bundle_dirs(root)
        for folder in folders:
            try:
                m = load_bundle(folder).manifest
            except BundleError as exc:
                console.print(f"[red]broken[/red] {folder}: {exc}")
                continue
            console.print(f"{m.task:<13} {m.architecture:<28} "
                          f"{'x'.join(map(str, m.input.size)):>8}  "
                          f"created {m.created_at.date().isoformat()}  {folder}")
        if not folders:
            console.print("no engine bundles installed (the classical segmenter is used); "
                          "'sentinel train --preset demo' makes some")
        gpu, why = cuda_device()
        console.print(f"device: {why}; runtimes: {', '.join(_runtimes_here(gpu))}")

    _run(body)


def _runtimes_here(gpu: bool) -> list[str]:
    import importlib.util

    found = ["onnx (cuda)" if gpu else "onnx (cpu)"]
    if importlib.util.find_spec("torch") is not None:
        found.append("torch (cuda fp16)" if gpu else "torch (cpu)")
    if gpu and importlib.util.find_spec("tensorrt") is not None:
        found.append("tensorrt")
    return found


@engines_app.command()
def verify(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder.")],
    runtime: Annotated[list[str] | None, typer.Option(help="Runtimes to check (repeat).")]
    = None,
    log_level: LogOption = "WARNING",
) -> None:
    """Check a bundle's file hashes, then each runtime's parity with its golden outputs.

    Example: sentinel engines verify engines/bundles/segmentation --runtime onnx --runtime torch
    """

    def body() -> None:
        from engines.bundle import load_bundle
        from engines.runtimes.base import measure_parity
        from engines.runtimes.select import select_runtime

        configure_logging(log_level)
        loaded = load_bundle(bundle)
        m = loaded.manifest
        console.print(f"{bundle}: {m.task} {m.architecture}, {len(m.files)} files, hashes ok")
        for kind in runtime or ["onnx"]:
            rt = select_runtime(loaded, kind)
            report = measure_parity(rt, loaded)
            rt.close()
            console.print(f"parity ok  {report.describe()}")

    _run(body)


@engines_app.command()
def build(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder.")],
    int8: Annotated[bool, typer.Option("--int8/--fp16", help="INT8 (explicit Q/DQ) or FP16.")]
    = False,
    via: Annotated[str, typer.Option(
        help="onnx-parser (TensorRT parses model.onnx) or torch-tensorrt (compiles the zoo "
             "model from weights.safetensors).")] = "onnx-parser",
    calibration: Annotated[Path | None, typer.Option(
        help="--int8: an .npz of real preprocessed frames by input name (default: the "
             "bundle's golden inputs, a few frames only).")] = None,
    cache: Annotated[Path | None, typer.Option(help="Plan cache folder.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Ignore a cached plan.")] = False,
    log_level: LogOption = "INFO",
) -> None:
    """Build this GPU's TensorRT plan for a bundle (FP16 default) and check its parity.

    Example: sentinel engines build engines/bundles/segmentation --fp16 --via torch-tensorrt
    """

    def body() -> None:
        from engines.bundle import load_bundle
        from engines.runtimes.select import open_checked

        configure_logging(log_level)
        if via not in BUILD_ROUTES:
            raise ValueError(f"unknown build route {via!r}; valid: {list(BUILD_ROUTES)}")
        loaded = load_bundle(bundle)
        precision = "int8" if int8 else "fp16"
        kwargs = {"cache_dir": cache} if cache is not None else {}
        runtime = BUILD_ROUTES[via](loaded, precision, calibration, rebuild, kwargs)
        open_checked(runtime, loaded).close()
        console.print(f"built and parity-checked {precision} {via} engine for {bundle}")

    _run(body)


def _via_onnx_parser(loaded: Any, precision: str, calibration: Path | None, rebuild: bool,
                     kwargs: dict[str, Any]) -> Any:
    import numpy as np

    from engines.runtimes import tensorrt_rt

    frames = None
    if precision == "int8":
        frames = dict(np.load(calibration)) if calibration is not None else loaded.golden()[0]
    plan = tensorrt_rt.build_plan(loaded, precision=precision, calibration=frames,
                                  rebuild=rebuild, **kwargs)
    return tensorrt_rt.TensorRTRuntime(plan, precision=precision)


def _via_torch_tensorrt(loaded: Any, precision: str, calibration: Path | None, rebuild: bool,
                        kwargs: dict[str, Any]) -> Any:
    from engines.runtimes import torch_trt

    if precision == "int8":
        raise ValueError("--int8 builds through the ONNX parser (explicit Q/DQ); use "
                         "--via onnx-parser, or --fp16 with torch-tensorrt")
    program = torch_trt.build_program(loaded, precision=precision, rebuild=rebuild, **kwargs)
    return torch_trt.TorchTensorRTRuntime(program, loaded.input_names, loaded.output_names,
                                          precision=precision)


BUILD_ROUTES = {"onnx-parser": _via_onnx_parser, "torch-tensorrt": _via_torch_tensorrt}


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files (TIFF, PNG, JPEG).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    masks_out: Annotated[Path | None, typer.Option(help="Write each mask as PNG here.")]
    = None,
    segmentation: Annotated[Path | None, typer.Option(
        help="Segmentation bundle, or 'classical' for the fallback.")] = None,
    ipp: Annotated[Path | None, typer.Option(help="IPP bundle, or 'off'.")] = None,
    runtime: RuntimeOption = "auto",
    top: Annotated[int, typer.Option(help="Classes shown per head.")] = 3,
    log_level: LogOption = "WARNING",
) -> None:
    """Run images through the installed engines: mask, 9 shape descriptors, IPP heads.

    Without a segmentation bundle the classical segmenter is used; without an IPP bundle
    no labels are predicted.

    Example: sentinel predict plate7/P1_A1_s0_t24h.tif --json --masks-out masks/
    """

    def body() -> None:
        from edge_app.cli.predict_run import Predictor

        configure_logging(log_level)
        predictor = Predictor(segmentation, ipp, runtime, top=top)
        try:
            for path in images:
                record = predictor.predict(path, masks_out)
                if json_out:
                    typer.echo(json.dumps(record))
                else:
                    _print_prediction(record)
        finally:
            predictor.close()

    _run(body)


def _print_prediction(record: dict[str, Any]) -> None:
    console.print(f"[bold]{record['image']}[/bold]  segmenter {record['segmenter']}  "
                  f"quality {','.join(record['quality']) or 'ok'}")
    if record["shape"] is None:
        console.print("  no object found")
    else:
        console.print("  " + "  ".join(f"{k} {v:.4g}" for k, v in record["shape"].items()))
    if not record["labels"] and record["quality"]:
        console.print("  labels: not predicted; IPP runs only on frames fit for verdicts")
    for head, classes in record["labels"].items():
        console.print(f"  {head:<16} " + "  ".join(f"{c['label']} {c['p']:.2f}"
                                                  for c in classes))
    if record.get("mask"):
        console.print(f"  mask: {record['mask']}")
