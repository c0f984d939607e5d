"""``sentinel review``: open a finished run in the dashboard, with no acquisition."""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from edge_app.cli import app, configure_logging, run_command

log = logging.getLogger(__name__)


def gradcam_provider() -> tuple[Any | None, str | None]:
    """A ``(uri, label) -> (rgb image, message)`` callable, or the reason there is none.

    Grad-CAM lives in the trainer (torch), which the app never imports: the callable runs
    ``sentinel explain`` (mounted by the trainer's plugin) in a child process on the
    installed IPP engine and returns its grid of one heat map per label.
    """
    if importlib.util.find_spec("torch") is None:
        return None, "Grad-CAM needs torch: pip install 'spheroid-sentinel[train]'"
    if "explain" not in {c.name or c.callback.__name__ for c in app.registered_commands
                         if c.callback is not None}:
        return None, "Grad-CAM needs the trainer's 'sentinel explain' command (train extra)"
    from engines.bundle import default_bundle

    bundle = default_bundle("ipp")
    if bundle is None or not (Path(bundle) / "weights.safetensors").is_file():
        return None, "Grad-CAM needs an installed IPP engine with its weights (sentinel train)"

    def gradcam(uri: str, label: str) -> tuple[Any, str]:
        import cv2

        with tempfile.TemporaryDirectory(prefix="sentinel-cam-") as tmp:
            out = Path(tmp) / "gradcam.png"
            done = subprocess.run(
                [sys.executable, "-m", "edge_app", "explain", uri, "--bundle", str(bundle),
                 "--out", str(out)], capture_output=True, text=True, timeout=300, check=False)
            if done.returncode != 0 or not out.is_file():
                raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1:])
            grid = cv2.imread(str(out), cv2.IMREAD_COLOR)
            if grid is None:
                raise RuntimeError(f"sentinel explain wrote an unreadable {out.name}")
            image = grid[..., ::-1]
        said = [line for line in done.stdout.splitlines() if line.startswith(f"{label}:")]
        return image, said[0] if said else "one heat map per label"

    return gradcam, None


@app.command()
def review(
    db: Annotated[Path, typer.Argument(help="SQLite store of a finished run.")],
    screenshot: Annotated[Path | None, typer.Option(
        help="Render the window offscreen, save it to this PNG and exit.")] = None,
    panels: Annotated[bool, typer.Option(
        help="With --screenshot, also save the plate, feed and well detail as -plate, -feed, "
             "-detail PNGs beside it.")] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "WARNING",
) -> None:
    """Open a finished run in the dashboard to review its alerts (no acquisition).

    Example: sentinel review plate7.sqlite

    Example: sentinel review plate7.sqlite --screenshot review.png
    """

    def body() -> None:
        from edge_app.dashboard.launch import display_problem, review_store
        from edge_app.store import StoreError

        configure_logging(log_level)
        if not db.exists():
            raise StoreError(f"no store at {db}; give the .sqlite file 'sentinel watch' wrote")
        problem = display_problem(screenshot=screenshot is not None)
        if problem is not None:
            raise ValueError(f"cannot open the dashboard: {problem}; use 'sentinel alerts "
                             "list' to review from the terminal, or --screenshot")
        gradcam, reason = gradcam_provider()
        saved = review_store(db, screenshot=screenshot, gradcam=gradcam, gradcam_reason=reason,
                             panels=panels)
        if saved is not None:
            typer.echo(f"saved the dashboard to {saved}")

    run_command(body)


LiveBody = Callable[[Callable[[Any], None] | None, Callable[[Any], bool] | None], Any]


def run_with_dashboard(body: LiveBody, db: Path, *, headless: bool, screenshot: Path | None,
                       source: str) -> Any:
    """Run a live ``body(on_pipeline, stop_when)`` with the dashboard open when one can be.

    ``--headless`` or no display: the body runs in the terminal (saying why when the window
    was wanted). ``--screenshot``: the window is rendered offscreen during the run and saved
    at its end, display or not.
    """
    from edge_app.cli.output import console
    from edge_app.dashboard.launch import display_problem

    if screenshot is None and headless:
        return body(None, None)
    problem = display_problem(screenshot=screenshot is not None)
    if problem is not None:
        console.print(f"[yellow]No dashboard: {problem}; running headless.[/yellow]")
        return body(None, None)
    from edge_app.dashboard.launch import run_live_with_dashboard

    gradcam, reason = gradcam_provider()
    result = run_live_with_dashboard(
        db, lambda on_pipeline, stop: body(on_pipeline, lambda _status: stop.is_set()),
        source=source, screenshot=screenshot, gradcam=gradcam, gradcam_reason=reason)
    if screenshot is not None:
        console.print(f"saved the dashboard to {screenshot}")
    return result
