"""The ``sentinel`` command line (typer). Domain errors become one-line messages."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from edge_app import __version__

app = typer.Typer(
    name="sentinel",
    help="Spheroid Sentinel: watch a microscope's plate, analyse every frame, raise alerts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


#: Log files rotate at this size; this many old ones are kept (sentinel.log.1 ... .5).
LOG_FILE_BYTES, LOG_FILE_BACKUPS = 10 * 2**20, 5


def configure_logging(level: str = "INFO", log_dir: Path | None = None,
                      file_level: str = "INFO") -> None:
    """Configure logging once, for the whole process (library code only calls getLogger).

    With ``log_dir`` (``logs/`` beside the store), records at ``file_level`` and above also go
    to ``log_dir/sentinel.log``, rotated at 10 MB with 5 old files kept.
    """
    from logging.handlers import RotatingFileHandler

    from rich.logging import RichHandler

    console = RichHandler(show_path=False, rich_tracebacks=False, console=None)
    console.setLevel(level.upper())
    handlers: list[logging.Handler] = [console]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        file = RotatingFileHandler(log_dir / "sentinel.log", maxBytes=LOG_FILE_BYTES,
                                   backupCount=LOG_FILE_BACKUPS, encoding="utf-8")
        file.setLevel(file_level.upper())
        file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handlers.append(file)
    logging.basicConfig(
        level=min(h.level for h in handlers), format="%(name)s: %(message)s",
        datefmt="%H:%M:%S", handlers=handlers, force=True,
    )
    logging.getLogger("tifffile").setLevel(logging.ERROR)


def domain_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user must fix an input', shown without a traceback."""
    from edge_app.core.plate import PlateProtocolError
    from edge_app.settings import SettingsError
    from edge_app.sources.mm.pycromanager_source import MicroManagerUnreachable
    from edge_app.store.database import StoreError

    return (PlateProtocolError, SettingsError, StoreError, FileNotFoundError, ValueError,
            MicroManagerUnreachable)


def run_command(body: Callable[[], Any]) -> Any:
    """Run a command body; turn domain errors into ``Error: ...`` and exit status 2."""
    try:
        return body()
    except domain_errors() as exc:
        typer.secho(f"Error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


@app.command()
def version() -> None:
    """Print the version.

    Example: sentinel version
    """
    typer.echo(f"spheroid-sentinel {__version__}")


def _register() -> None:
    from edge_app.cli import (  # noqa: F401  (commands register on import)
        alerts_cmds,
        bench_cmds,
        doctor,
        engines_cmds,
        review_cmd,
        runs,
        store_cmds,
    )

    _register_plugins()


#: Entry-point group through which companions (the trainer) add commands to ``sentinel``.
COMMAND_GROUP = "sentinel.commands"


def _register_plugins() -> None:
    """Mount the commands other installed packages offer (``train``, ``explain``, ``synth``).

    The app never imports the trainer: the trainer registers ``trainer.cli:register`` in the
    ``sentinel.commands`` entry-point group. A plugin that cannot load is skipped with a
    logged reason, so the app's own commands always work.
    """
    from importlib.metadata import entry_points

    for point in sorted(entry_points(group=COMMAND_GROUP), key=lambda p: p.name):
        try:
            point.load()(app)
        except Exception as exc:  # a broken companion must not take the CLI down
            logging.getLogger(__name__).warning(
                "commands from %s (%s) not loaded: %s", point.name, point.value, exc)


_register()


def main() -> None:
    """Entry point of ``sentinel`` and ``python -m edge_app``."""
    app(prog_name="sentinel")
    sys.exit(0)
