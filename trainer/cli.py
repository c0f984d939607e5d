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


@train_app.command()
def recalibrate(
    ctx: typer.Context,
    bundle: Annotated[Path, typer.Option(help="IPP bundle folder (rebuilt in place).")] = Path(
        "engines/bundles/ipp"),
    n: Annotated[int, typer.Option(help="Fresh atlas frames to render.")] = 3000,
    seed: Annotated[int, typer.Option(help="Atlas seed (not one used in training).")] = 11,
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
    ood_head: Annotated[str, typer.Option(help="Head whose classes the OOD Gaussians model.")
                        ] = "microscope",
    ood_quantile: Annotated[float, typer.Option(help="In-domain quantile of the OOD limit.")
                            ] = 0.99,
    out: Annotated[Path | None, typer.Option(help="Write here instead of in place.")] = None,
) -> None:
    """Rebuild an IPP bundle from its own weights, without retraining: embedding output,
    Mondrian calibration scores and OOD statistics on fresh held-out atlas renders.

    Example: sentinel train recalibrate --bundle engines/bundles/ipp --n 3000 --seed 11
    """
    from trainer.train.recalibrate import RecalibrateRequest
    from trainer.train.recalibrate import recalibrate as run

    command = _command(ctx).replace("sentinel train", "sentinel train recalibrate", 1)
    request = RecalibrateRequest(bundle=bundle, n=n, seed=seed, threads=threads,
                                 ood_head=ood_head, ood_quantile=ood_quantile, out=out,
                                 command=command)
    try:
        result = run(request)
    except ValueError as error:  # BundleError and bad options are ValueErrors
        raise typer.BadParameter(str(error)) from None
    ood = result.manifest.ood
    typer.echo(f"recalibrated {result.path}: OOD threshold {ood.threshold:.2f} "
               f"({ood.quantile:g} quantile of {ood.n_threshold} held-out frames)")


@train_app.command("ood-check")
def ood_check(
    bundle: Annotated[Path, typer.Option(help="IPP bundle folder.")] = Path(
        "engines/bundles/ipp"),
    n: Annotated[int, typer.Option(help="Atlas frames per synthetic group.")] = 600,
    seed: Annotated[int, typer.Option(help="In-domain atlas seed (held out).")] = 12,
    threads: Annotated[int, typer.Option(help="ONNX Runtime threads.")] = 1,
) -> None:
    """How well the OOD score separates a held-out microscope and real images from fresh
    in-domain renders (AUROC, share flagged), and the Mondrian false-alarm share.

    Example: sentinel train ood-check --bundle engines/bundles/ipp --n 600
    """
    from trainer.train.ood_check import format_check, run_check

    try:
        groups, alarms, _ = run_check(bundle, n, seed, threads)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    typer.echo(format_check(groups, alarms))


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
