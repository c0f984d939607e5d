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


@train_app.callback()
def _group() -> None:
    """Train, evaluate and report the paper's models (a command group even with one command)."""


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
