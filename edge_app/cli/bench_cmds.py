"""``sentinel bench``: per-stage engine latency per runtime, or folder-to-store latency."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edge_app.cli import app, configure_logging, run_command


@app.command()
def bench(
    frames: Annotated[int, typer.Option(help="How many frames.")] = 50,
    size: Annotated[int, typer.Option(help="Frame side in pixels (uint16).")] = 2048,
    threads: Annotated[int | None, typer.Option(help="Threads (default: CPU count).")] = None,
    segmentation: Annotated[str | None, typer.Option(help="Bundle folder or zoo model.")]
    = None,
    ipp: Annotated[str | None, typer.Option(help="Bundle folder or zoo model.")] = None,
    nextframe: Annotated[str | None, typer.Option(help="Bundle folder or zoo model.")] = None,
    folder_latency: Annotated[bool, typer.Option(
        "--folder-latency", help="Instead: file complete -> stored through watch.")] = False,
    rate: Annotated[float, typer.Option(help="--folder-latency: frames written per s.")] = 4.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    """Time the per-frame path per stage for each runtime beside PyTorch eager, same models.

    Models: the given bundles or zoo names, else the installed bundles, else the CPU-sized
    zoo models with random weights. --folder-latency times file complete -> stored instead.

    Example: sentinel bench --frames 50 --size 2048 --json
    """
    from edge_app.cli.output import print_engine_bench, print_latency

    configure_logging(log_level)
    if folder_latency:
        from edge_app.bench.folder_latency import measure_latency

        report = run_command(lambda: measure_latency(frames, size, rate))
        typer.echo(report.to_json()) if json_out else print_latency(report)
        return
    from edge_app.bench.engine_speed import measure_engines

    given = {"segmentation": segmentation, "ipp": ipp, "nextframe": nextframe}
    bundles = {t: Path(v) for t, v in given.items() if v and Path(v).is_dir()}
    models = {t: v for t, v in given.items() if v and t not in bundles}
    result = run_command(lambda: measure_engines(frames, size, bundles=bundles or None,
                                                 models=models or None, threads=threads))
    typer.echo(result.to_json()) if json_out else print_engine_bench(result)
