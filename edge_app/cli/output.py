"""How the CLI prints frames, alerts and summaries (the only module here that prints)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from edge_app.core.frames import FrameFailure
from edge_app.core.results import Alert, FrameResult, Severity

console = Console(highlight=False, soft_wrap=True)
_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}


def frame_line(result: FrameResult) -> str:
    meta = result.meta
    hours = f"{result.hours:6.1f} h" if result.hours is not None else "     ? h"
    shape = (
        f"area {result.shape.area:9.0f} px  circ {result.shape.circularity:.2f}"
        if result.shape else "no object" + " " * 20
    )
    quality = ",".join(q.value for q in result.quality)
    ms = sum(result.timings_ms.values())
    return (f"{meta.well or '?':>4} s{meta.site}  {hours}  {shape}  {quality:<12} "
            f"{ms:5.0f} ms  {meta.uri.rsplit('/', 1)[-1]}")


def print_result(result: FrameResult) -> None:
    console.print(frame_line(result))


def print_failure(failure: FrameFailure) -> None:
    console.print(f"[red]FAILED[/red] {failure.uri}: {failure.reason}")


def print_alert(alert: Alert) -> None:
    style = _SEVERITY_STYLE[alert.severity]
    severity = f"[{style}]ALERT {alert.severity.value:<8}[/{style}]"
    console.print(f"{severity} {alert.kind}: {alert.message}")


def print_summary(summary) -> None:
    table = Table(title="Store summary", show_header=False)
    table.add_row("plates", ", ".join(summary.plates) or "-")
    table.add_row("frames", str(summary.frames))
    table.add_row("processed", str(summary.processed))
    table.add_row("usable for verdicts", str(summary.usable))
    table.add_row("failed", str(summary.failed))
    for reason, n in summary.failures_by_reason.items():
        table.add_row(f"  failed: {reason}", str(n))
    table.add_row("open alerts", str(summary.alerts_open))
    for kind, n in summary.alerts_by_kind.items():
        table.add_row(f"  alerts: {kind}", str(n))
    console.print(table)


def print_latency(report) -> None:
    table = Table(title=f"{report.stored}/{report.frames} frames of {report.size}x{report.size} "
                        f"uint16 written at {report.rate:g}/s")
    table.add_column("stage")
    table.add_column("median ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for stage, median in report.stage_ms_median.items():
        table.add_row(stage, f"{median:.1f}", f"{report.stage_ms_p99[stage]:.1f}")
    table.add_row("file complete -> stored", f"{report.latency_ms_median:.1f}",
                  f"{report.latency_ms_p99:.1f}")
    console.print(table)
    console.print(f"throughput {report.frames_per_s:.2f} frames/s, peak RSS "
                  f"{report.peak_rss_mb:.0f} MB")


def print_engine_bench(report) -> None:  # (an EngineBenchReport)
    """Stage medians / p99 per runtime, side by side, then model time and speed-up."""
    ok = [r for r in report.runs if r.error is None]
    models = ", ".join(f"{t}={n}" for t, n in report.models.items())
    table = Table(title=f"{report.frames} frames {report.size}x{report.size} uint16, batch 1, "
                        f"{report.threads} threads; {models}")
    table.add_column("stage (ms, median / p99)")
    for run in ok:
        table.add_column(run.runtime, justify="right")
    for stage in (ok[0].stage_ms_median if ok else {}):
        table.add_row(stage, *(f"{r.stage_ms_median[stage]:.1f} / {r.stage_ms_p99[stage]:.1f}"
                               for r in ok))
    table.add_row("models (seg+ipp+forecast)", *(f"{r.model_ms_median:.1f}" for r in ok))
    table.add_row("speed-up vs torch eager", *(f"{report.speedup(r.runtime) or 0:.2f}x"
                                               for r in ok))
    table.add_row("frames/s", *(f"{r.frames_per_s:.2f}" for r in ok))
    table.add_row("peak RSS MB", *(f"{r.peak_rss_mb:.0f}" for r in ok))
    console.print(table)
    ev = getattr(report, "evidence_ms", None)
    if ev:
        console.print(f"protocol evidence per frame (96 wells, 2 sites x 3 time points, "
                      f"{ev['frames']:.0f} frames): median {ev['median']:.2f} ms, p90 "
                      f"{ev['p90']:.2f} ms, max {ev['max']:.1f} ms")
    for run in report.runs:
        if run.error is not None:
            console.print(f"[yellow]{run.runtime}: not run: {run.error}[/yellow]")
