"""``sentinel watch`` and ``sentinel demo``: live runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_app.cli import app, configure_logging, run_command
from edge_app.cli.output import console, print_alert, print_failure, print_result, print_summary

log = logging.getLogger(__name__)


def run_live(
    settings: Any, db: Path, plate: Any | None, *, stop_when: Callable[[Any], bool] | None = None,
    source: Any | None = None, quiet: bool = False,
    on_pipeline: Callable[[Any], None] | None = None,
) -> Any:
    """Run the pipeline until the source is exhausted (``once``), ``stop_when()`` or Ctrl-C.

    Returns the final store summary. Teardown (source, workers, store) always runs.
    """
    from edge_app.pipeline.compose import build_pipeline
    from edge_app.store import StoreWriter

    writer = StoreWriter(db, start_wait_s=settings.store.start_wait_s)
    try:
        pipeline = build_pipeline(settings, writer, plate=plate, source=source)
        loaded = pipeline.plate  # the plate map, loaded once by build_pipeline
        if loaded is not None:
            writer.call(lambda store: store.record_plate(loaded))
        if not quiet:
            pipeline.events.frame_processed.connect(print_result)
            pipeline.events.frame_failed.connect(print_failure)
        pipeline.events.alert_raised.connect(print_alert)
        engines = pipeline.analyser.engines_used()
        runtimes = ",".join(sorted({str(e["runtime"]) for e in engines.values()}))
        run_id = writer.call(lambda s: s.start_run(
            source=pipeline.source.name, runtime=runtimes, engines=engines,
            settings=settings.model_dump(mode="json")))
        log.info("effective settings: %s", settings.model_dump_json())
        pipeline.start()
        if on_pipeline is not None:  # the dashboard's status bar reads it
            on_pipeline(pipeline)
        heartbeat = _start_heartbeat(db, pipeline)
        try:
            _wait(pipeline, settings.source.once, stop_when)
        except KeyboardInterrupt:
            console.print("stopping (Ctrl-C) ...")
        finally:
            pipeline.stop()
            heartbeat.stop()
            health = writer.flush(settings.store.flush_s)
            _finish_run(writer, run_id, pipeline.status())
        summary = writer.call(lambda s: s.summary())
    finally:
        writer.close()
    _check_unwritten(health, summary, writer.spool.path)
    return summary


def _start_heartbeat(db: Path, pipeline: Any) -> Any:
    """``<store>.heartbeat.json``, rewritten every few seconds, for ``sentinel status``."""
    from edge_app.service.heartbeat import HeartbeatWriter, heartbeat_path

    heartbeat = HeartbeatWriter(heartbeat_path(db), pipeline, clock=pipeline.clock)
    heartbeat.start()
    return heartbeat


def _finish_run(writer: Any, run_id: int, status: Any) -> None:
    from edge_app.store import StoreError

    try:
        writer.call(lambda s: s.finish_run(run_id, frames=status.processed,
                                           failures=status.failed))
    except StoreError as exc:
        log.warning("run %d not closed in the store: %s", run_id, exc)


def _check_unwritten(health: Any, summary: Any, spool: Path) -> None:
    """Exit non-zero (one line) when frames are left outside the database."""
    from edge_app.store import StoreError

    if not health.unwritten:
        return
    print_summary(summary)
    held = f"; {health.held} will be read again from the source" if health.held else ""
    raise StoreError(f"{health.unwritten} frame(s) not written to the store ({health.message}): "
                     f"{health.spooled} wait in {spool} and are written on the next start{held}")


def _wait(pipeline: Any, once: bool, stop_when: Callable[[Any], bool] | None) -> None:
    """Block until a ``once`` source is done, ``stop_when(status)`` is true, or Ctrl-C."""
    while not (once and pipeline.wait(timeout=0.25)):
        if stop_when is not None and stop_when(pipeline.status()):
            return
        if not once:
            time.sleep(0.25)


@app.command()
def watch(
    folder: Annotated[Path | None, typer.Argument(
        help="Folder the microscope saves to (only for --source folder).")] = None,
    plate: Annotated[Path | None, typer.Option(help="Plate map (CSV or .xlsx).")] = None,
    db: Annotated[Path | None, typer.Option(
        help="SQLite store (default: store.path, sentinel.sqlite).")] = None,
    headless: Annotated[bool, typer.Option(help="No dashboard; print to the terminal.")] = False,
    config: Annotated[Path | None, typer.Option(help="Settings TOML file.")] = None,
    polling: Annotated[
        bool, typer.Option(help="Poll instead of OS events (network shares).")
    ] = False,
    pattern: Annotated[str | None, typer.Option(
        help="File-name preset or regex (default: the presets plate-well-site-time, then "
             "slimia; the log and `sentinel status` say which matched).")] = None,
    once: Annotated[bool, typer.Option(help="Process what is there, then exit.")] = False,
    source: Annotated[str, typer.Option(
        help="folder | mm-virtual | pymmcore | pycromanager.")] = "folder",
    sites: Annotated[int | None, typer.Option(help="Sites per well (Micro-Manager sources).")]
    = None,
    timepoints: Annotated[int | None, typer.Option(help="Time points (Micro-Manager sources).")]
    = None,
    mm_config: Annotated[Path | None, typer.Option(
        help="Micro-Manager hardware .cfg (pymmcore; pycromanager headless).")] = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
    screenshot: Annotated[Path | None, typer.Option(
        help="Render the dashboard offscreen at the end of the run and save this PNG.")] = None,
) -> None:
    """Watch FOLDER (or image the plate through Micro-Manager), analyse each frame, alert.

    Example: sentinel watch D:/acquisitions/plate7 --plate plate7.csv --db plate7.sqlite --headless

    Example: sentinel watch --source mm-virtual --plate plate.csv --sites 2 --timepoints 3

    Example: sentinel watch --config sentinel.toml --headless   (folder, plate map and store
    from the settings file: what the service runs)
    """

    def body() -> None:
        from edge_app.settings import load_settings

        overrides = _source_overrides(source, folder, polling, once, pattern)
        overrides.update(sites=sites, timepoints=timepoints, mm_config=mm_config)
        settings = load_settings(config, source=overrides, plate={"protocol": plate},
                                 store={"path": db})
        if settings.source.kind == "folder":
            _require_folder(settings.source.folder)
        configure_logging(log_level, log_dir=settings.store.path.parent / "logs",
                          file_level=settings.log.level)
        from edge_app.cli.review_cmd import run_with_dashboard

        print_summary(run_with_dashboard(  # plate: build_pipeline
            lambda on_pipeline, stop_when: run_live(settings, settings.store.path, None,
                                                    stop_when=stop_when, on_pipeline=on_pipeline),
            settings.store.path, headless=headless, screenshot=screenshot,
            source=settings.source.kind))

    run_command(body)


def _source_overrides(
    source: str, folder: Path | None, polling: bool, once: bool, pattern: str | None
) -> dict[str, Any]:
    """Settings flags of the source; Micro-Manager acquisitions are finite (``once``)."""
    if source == "folder":
        if folder is not None:  # else source.folder of --config
            _require_folder(folder)
        # ``None``: flag not given, so --config's polling/once stay in force.
        return {"kind": source, "folder": folder, "polling": polling or None,
                "once": once or None, "name_pattern": pattern}
    if folder is not None:
        raise ValueError(f"FOLDER is only for --source folder, not --source {source}")
    return {"kind": source, "once": True}


def _require_folder(folder: Path | None) -> None:
    if folder is None:
        raise ValueError("give the FOLDER to watch (or source.folder in --config), or pick "
                         "another --source (mm-virtual, pymmcore, pycromanager)")
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"the folder to watch {folder} {what}; give the folder the "
                         "microscope saves to")


@app.command()
def demo(
    headless: Annotated[bool, typer.Option(help="No dashboard; print to the terminal.")] = False,
    out: Annotated[Path | None, typer.Option(help="Folder to keep (default: a temp folder).")]
    = None,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
    screenshot: Annotated[Path | None, typer.Option(
        help="Render the dashboard offscreen at the end of the run and save this PNG.")] = None,
    min_recall: Annotated[list[str] | None, typer.Option(
        help="KIND=VALUE (repeatable): exit 1 when the strict recall of KIND is lower.")] = None,
    max_false_rate: Annotated[float | None, typer.Option(
        help="Exit 1 above this many false (protocol + quality) alerts per clean well.")]
    = None,
) -> None:
    """Simulate a small plate acquisition into a folder while 'watch' runs on it.

    Ends with the strict score: recall per deviation kind, false alerts per clean well and
    per well-frame.

    Example: sentinel demo --headless --min-recall empty_well=1 --max-false-rate 0.1
    """

    def body() -> None:
        import tempfile

        from edge_app.bench.summary import parse_thresholds
        from edge_app.demo import DemoPlan, SimulatedAcquisition, score_demo, write_plate_map
        from edge_app.settings import load_settings

        configure_logging(log_level)
        thresholds = parse_thresholds(min_recall or [])
        workdir = out or Path(tempfile.mkdtemp(prefix="sentinel-demo-"))
        folder = workdir / "acquisition"
        folder.mkdir(parents=True, exist_ok=True)
        plan = DemoPlan()
        acquisition = SimulatedAcquisition(folder, plan)
        plate_csv = write_plate_map(workdir / "plate.csv", plan,
                                    acquisition.sim.seeded_at.isoformat())
        settings = load_settings(None, source={"folder": folder, "settle_s": 0.3,
                                               "name_pattern": "plate-well-site-time"},
                                 plate={"protocol": plate_csv, "plate_id": plan.plate_id})
        n_frames = len(plan.wells) * len(plan.hours)
        console.print(f"demo: imaging {len(plan.wells)} wells x {len(plan.hours)} time points "
                      f"into {folder} at {plan.rate:g} frames/s")
        acquisition.start()
        db = workdir / "demo.sqlite"
        from edge_app.cli.review_cmd import run_with_dashboard

        def done(st: Any) -> bool:
            return acquisition.finished.is_set() and st.processed + st.failed + st.duplicates \
                >= n_frames

        summary = run_with_dashboard(
            lambda on_pipeline, stop_when: run_live(
                settings, db, None, on_pipeline=on_pipeline,
                stop_when=lambda st: done(st) or (stop_when is not None and stop_when(st))),
            db, headless=headless, screenshot=screenshot, source="simulated microscope")
        acquisition.join(10)
        if acquisition.error is not None:
            raise RuntimeError(f"the simulated microscope failed: {acquisition.error}")
        print_summary(summary)
        report, failures = score_demo(db, acquisition.result.deviations, plan, thresholds,
                                      max_false_rate)
        console.print(report, markup=False)
        console.print(f"demo folder: {workdir}  (store: {db.name}, plate map: {plate_csv.name})")
        for line in failures:
            typer.secho(f"below threshold: {line}", fg="red", err=True)
        if failures:
            raise typer.Exit(1)

    run_command(body)
