"""``sentinel train ...`` commands (``train_app``) and the top-level ``explain`` command.

The lead registers ``train_app`` under ``sentinel train`` and :func:`explain` as
``sentinel explain``. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

logger = logging.getLogger(__name__)

train_app = typer.Typer(help="Train, evaluate and report the paper's models.",
                        no_args_is_help=True)


@train_app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    preset: Annotated[str | None, typer.Option(
        help="Preset: demo (the default engines) or paper-<model>.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for the run folders.")] = Path("runs/demo"),
    data: Annotated[str, typer.Option(help="atlas | slimia:PATH | folder:CSV")] = "atlas",
    epochs: Annotated[int | None, typer.Option(help="Override the preset's epochs.")] = None,
    tiny: Annotated[bool, typer.Option(
        "--tiny", help="Toy test_* architectures at toy size (seconds on a CPU).")] = False,
    task: Annotated[str | None, typer.Option(
        help="Only this task of the preset: segmentation | ipp | nextframe.")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the run folders' checkpoints.")] = False,
    bundles: Annotated[Path | None, typer.Option(
        help="Where bundles go (default: engines/bundles for demo, else OUT/bundles).")] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    threads: Annotated[int | None, typer.Option(
        help="CPU threads for torch (default: torch's choice; 1 on a busy machine).")] = None,
    export: Annotated[bool, typer.Option(help="Export an engine bundle per run.")] = True,
) -> None:
    """Train a preset: data, training, held-out evaluation, calibration, engine bundles.

    Example: sentinel train --preset demo --out runs/demo
    (also under torchrun: torchrun --nproc_per_node 2 -m trainer.train --preset demo)
    """
    if ctx.invoked_subcommand is not None:
        return
    if preset is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from trainer.train.data import DataSpec, DataSpecError
    from trainer.train.recipes import UnknownPresetError
    from trainer.train.run import TrainRequest, format_outcomes
    from trainer.train.run import train as run_training

    try:
        request = TrainRequest(
            preset=preset, out=out, data=DataSpec.parse(data), epochs=epochs, tiny=tiny,
            task=task, resume=resume, bundles=bundles, device=device, threads=threads,
            export=export,
            command=_command(ctx))
        outcomes = run_training(request)
    except (DataSpecError, UnknownPresetError, ValueError, FileNotFoundError) as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(format_outcomes(outcomes))


def _command(ctx: typer.Context) -> str:
    """The command line as typed (options that were given), for the bundle manifest."""
    import shlex

    parts = ["sentinel", "train"]
    for name, value in ctx.params.items():
        source = ctx.get_parameter_source(name)
        if source is None or source.name == "DEFAULT" or value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{name}")
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


@train_app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or metrics.json files).")],
    tables: Annotated[str, typer.Option(help="Comma-separated table numbers: 1,2,4,6,7.")] = (
        "1,2,4,6,7"),
    csv: Annotated[Path | None, typer.Option(help="Folder to write tableN.csv into.")] = None,
) -> None:
    """Print the paper's tables (1, 2, 4, 6, 7) as Markdown from run folders' metrics.json.

    Example: sentinel train report runs/seg-unetpp runs/ipp-coatnet --csv report/
    """
    from trainer.report import ReportError, render_report

    which = [t.strip() for t in tables.split(",") if t.strip()]
    try:
        text = render_report(runs, which, csv)
    except ReportError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(text or "no table has rows for these runs")


def explain(
    image: Annotated[Path, typer.Argument(help="Image file (TIFF, PNG, JPEG).", exists=True)],
    bundle: Annotated[Path, typer.Option(help="IPP engine bundle folder with weights.")],
    out: Annotated[Path, typer.Option(help="PNG to write.")] = Path("gradcam.png"),
) -> None:
    """Grad-CAM per label of an IPP engine on one image, in the paper's Figure 5 layout.

    Example: sentinel explain well_A1.tif --bundle engines/bundles/ipp --out grid.png
    """
    from engines.bundle import BundleError
    from trainer.explain import explain_bundle

    try:
        cams = explain_bundle(image, bundle, out)
    except (BundleError, ValueError) as error:
        raise typer.BadParameter(str(error)) from None
    for cam in cams:
        typer.echo(f"{cam.head}: {cam.label} ({cam.confidence:.0%})")
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Entry point of the ``sentinel.commands`` group: mount ``train``, ``explain``, ``synth``.

    ``sentinel`` (the app) finds this through the entry-point group, so the app never imports
    the trainer; the trainer sits on top as the companion.
    """
    from trainer.synth.cli import app as synth_app

    app.add_typer(synth_app, name="synth", help="Synthetic atlas and plate simulator.")
    app.add_typer(train_app, name="train")
    app.command("explain")(explain)
