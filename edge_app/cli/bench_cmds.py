"""``sentinel bench``: per-stage engine latency per runtime, or folder-to-store latency;
``sentinel bench alerts``: simulated plates through the pipeline, alerts scored strictly."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge_app.cli import app, configure_logging, run_command

if TYPE_CHECKING:
    from edge_app.bench.alert_bench import AlertBenchConfig
    from edge_app.bench.summary import Summary

bench_app = typer.Typer(name="bench", add_completion=False, pretty_exceptions_enable=False)
app.add_typer(bench_app, name="bench")


@bench_app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
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
    'sentinel bench alerts' scores the alerts on simulated plates instead.

    Example: sentinel bench --frames 50 --size 2048 --json
    """
    if ctx.invoked_subcommand is not None:
        return
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


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


@bench_app.command("alerts")
def alerts(
    plate_size: Annotated[int, typer.Option(help="Wells per plate: 24, 48, 96 or 384.")] = 96,
    groups: Annotated[str, typer.Option(help="Replicate group size range MIN-MAX.")] = "3-12",
    sites: Annotated[int, typer.Option(help="Sites per well.")] = 2,
    hours: Annotated[str, typer.Option(help="Time points (hours after seeding), a,b,c.")]
    = "24,48,72",
    deviations: Annotated[float, typer.Option(help="Fraction of wells that deviate.")] = 0.1,
    kinds: Annotated[str, typer.Option(help="Deviation kinds, a,b (default: all).")] = "",
    seeds: Annotated[str, typer.Option(help="One plate per seed, a,b,c (not training seeds).")]
    = "9001",
    microscope: Annotated[str, typer.Option(
        help="A vocabulary microscope, or NikonTi2 (one no engine was trained on).")]
    = "OperaPhenix",
    width: Annotated[int, typer.Option(help="Frame width in pixels.")] = 512,
    error_rate: Annotated[float | None, typer.Option(help="alerts.error_rate.")] = None,
    fdr: Annotated[float | None, typer.Option(help="alerts.false_discovery_rate.")] = None,
    separability_n: Annotated[int, typer.Option(
        help="Renders per condition for separability (0: skip).")] = 1000,
    cache: Annotated[Path | None, typer.Option(help="Separability cache (JSON).")] = None,
    real: Annotated[Path | None, typer.Option(
        help="Instead: a plate of the real images in this folder (shared/data/real).")] = None,
    min_recall: Annotated[list[str] | None, typer.Option(
        help="KIND=VALUE (repeatable): exit 1 below it (protocol kinds: visible ones).")]
    = None,
    max_false_wells: Annotated[float | None, typer.Option(
        help="Exit 1 above this many protocol (or quality) false-alert wells per plate.")]
    = None,
    out: Annotated[Path | None, typer.Option(help="Folder to keep (default: temporary).")]
    = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    """Stream simulated plates (replicate groups) through watch's pipeline; score the alerts.

    Strict: an alert catches a deviation only in its well, with its kind, label and value.
    Prints recall per deviation kind (label deviations split by separability >= 0.9),
    frames-to-alert, false-alert wells per plate, false alerts per clean well and per
    well-frame, and frame-to-alert latency.

    Example: sentinel bench alerts --plate-size 96 --seeds 9001,9002,9003 --max-false-wells 1
    """
    from edge_app.bench.alert_bench import AlertBenchConfig
    from edge_app.bench.summary import failed_thresholds, parse_thresholds

    configure_logging(log_level)
    low, _, high = groups.partition("-")
    config = AlertBenchConfig(
        plate_size=plate_size, sites=sites, hours=_floats(hours), deviations=deviations,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()), seeds=_ints(seeds),
        microscope=microscope, group_min=int(low), group_max=int(high or low), width=width,
        error_rate=error_rate, fdr=fdr, separability_n=separability_n,
        separability_cache=cache or Path.home() / ".cache" / "sentinel" / "separability.json")
    thresholds = run_command(lambda: parse_thresholds(min_recall or []))
    summary = run_command(lambda: _run(config, out, real))
    _report(summary, json_out)
    failures = failed_thresholds(summary, thresholds, max_false_wells=max_false_wells)
    for line in failures:
        typer.secho(f"below threshold: {line}", fg="red", err=True)
    if failures:
        raise typer.Exit(1)


def _run(config: AlertBenchConfig, out: Path | None, real: Path | None) -> Summary:
    from edge_app.bench.alert_bench import run_bench
    from edge_app.cli.runs import run_live

    workdir = out or Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    # The run prints its alerts to stdout; keep stdout for the report (--json).
    with contextlib.redirect_stdout(sys.stderr):
        if real is not None:
            from edge_app.bench.real_plate import run_real_plate

            return run_real_plate(real, workdir, run_live, config)[0]  # type: ignore[no-any-return]
        return run_bench(config, workdir, run_live)[0]


def _report(summary: Summary, json_out: bool) -> None:
    from edge_app.bench.summary import markdown

    typer.echo(summary.to_json() if json_out else markdown(summary))
