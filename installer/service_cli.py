"""Arguments and steps of ``python3 -m installer service install|status|remove|run``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from installer import service
from installer.bootstrap import (
    DEMO_EXTRAS,
    ROOT,
    VENV,
    ensure_environment,
    venv_python,
    wanted_extras,
)
from installer.service_files import (
    SETTINGS_NAME,
    ServiceError,
    ServiceSpec,
    read_settings,
    settings_template,
    store_of,
)

SERVICE_EXTRAS = DEMO_EXTRAS
DEFAULT_CONFIG = ROOT / SETTINGS_NAME

# Run inside the venv: the app's own settings loader judges the file, so a typo is caught
# before the service starts (and restarts) on it.
_CHECK_SETTINGS = """\
import sys
from pathlib import Path
from edge_app.settings import SettingsError, load_settings
try:
    settings = load_settings(Path(sys.argv[1]))
except SettingsError as exc:
    sys.exit(str(exc))
folder = settings.source.folder
if settings.source.kind == "folder" and (folder is None or not folder.is_dir()):
    sys.exit(f"source.folder {folder} is not a folder: set it to the folder the microscope "
             "saves to")
"""


def add_service_parser(sub: argparse._SubParsersAction) -> None:
    """The ``service`` command and its actions."""
    parser = sub.add_parser("service", help="run the sentinel as a service: started with the "
                            "PC, restarted on failure (systemd user unit / Task Scheduler)")
    actions = parser.add_subparsers(dest="action", required=True)
    install = actions.add_parser("install", help="write sentinel.toml if needed, then install "
                                 "and start the service")
    install.add_argument("--folder", type=Path, help="folder the microscope saves to")
    install.add_argument("--plate", type=Path, help="plate map (CSV or .xlsx)")
    install.add_argument("--db", type=Path, help="SQLite store (default: ./sentinel.sqlite)")
    install.add_argument("--polling", action="store_true", help="poll (network shares)")
    install.add_argument("--overwrite", action="store_true",
                         help="rewrite an existing settings file from these flags")
    install.add_argument("--print", dest="preview", choices=("linux", "windows"),
                         help="print the settings and the unit/task file; change nothing")
    actions.add_parser("status", help="installed? running? how old is its heartbeat?")
    actions.add_parser("remove", help="stop the service and remove it")
    actions.add_parser("run", help="run the sentinel and restart it whenever it fails "
                       "(what the Windows task runs)")
    for action in actions.choices.values():
        action.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                            help=f"settings file (default: {SETTINGS_NAME} in the checkout)")


def _say(lines: list[str]) -> None:
    for line in lines:
        sys.stdout.write(line + "\n")


def settings_text(args: argparse.Namespace, config: Path) -> str | None:
    """The settings file to write from the flags, or ``None`` to use the existing file."""
    flags = (args.folder, args.plate, args.db)
    if config.exists() and not args.overwrite:
        if any(f is not None for f in flags) or args.polling:
            raise ServiceError(f"{config} exists: edit it (it is commented), or add "
                               "--overwrite to write it again from these flags")
        return None
    if args.folder is None:
        raise ServiceError(f"no settings file {config}: give --folder (and --plate, --db) "
                           "to write one")
    folder = args.folder.expanduser().resolve()
    if not folder.is_dir():
        raise ServiceError(f"--folder {folder} is not a folder")
    plate = args.plate.expanduser().resolve() if args.plate is not None else None
    if plate is not None and not plate.is_file():
        raise ServiceError(f"--plate {plate} is not a file")
    db = (args.db or Path(SETTINGS_NAME).with_suffix(".sqlite")).expanduser().resolve()
    return settings_template(folder, db, plate, polling=args.polling)


def check_settings(python: Path, config: Path) -> None:
    """Load ``config`` with the app's settings loader in the venv; ServiceError if it fails."""
    result = subprocess.run([str(python), "-c", _CHECK_SETTINGS, str(config)],
                            capture_output=True, text=True, check=False, cwd=ROOT, timeout=120)
    if result.returncode != 0:
        raise ServiceError(f"{config}: {result.stderr.strip() or 'cannot be loaded'}")


def _install(args: argparse.Namespace) -> int:
    config = args.config.expanduser().resolve()
    text = settings_text(args, config)
    if args.preview:
        sys.stdout.write(f"# {config}\n{text or config.read_text(encoding='utf-8')}\n")
        linux = args.preview == "linux"
        python = VENV / ("bin/python" if linux else "Scripts/python.exe")
        spec = ServiceSpec(ROOT, python, config)
        preview = service.SystemdUserService() if linux else service.ScheduledTask()
        sys.stdout.write(preview.preview(spec))
        return 0
    controller = service.controller_for()
    if text is not None:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(text, encoding="utf-8")
        _say([f"wrote {config}"])
    python = ensure_environment(wanted_extras(SERVICE_EXTRAS))
    check_settings(python, config)
    code, lines = controller.install(ServiceSpec(ROOT, python, config))
    _say(lines)
    return code


def _status(args: argparse.Namespace) -> int:
    code, lines = service.controller_for().status()
    config = args.config.expanduser().resolve()
    _say([*lines, f"settings: {config}" if config.is_file() else f"settings: none at {config}"])
    if config.is_file():
        _say([service.heartbeat_line(config)])
    return code


def _logs_dir(config: Path) -> Path | None:
    try:
        return store_of(read_settings(config)).parent / "logs"
    except ServiceError:
        return None


def _remove(args: argparse.Namespace) -> int:
    code, lines = service.controller_for().remove(logs=_logs_dir(args.config.resolve()))
    _say(lines)
    return code


def _run(args: argparse.Namespace) -> int:
    config = args.config.expanduser().resolve()
    logs = _logs_dir(config)
    if logs is None:
        raise ServiceError(f"cannot read the settings file {config}")
    spec = ServiceSpec(ROOT, venv_python(), config)
    return service.supervise([str(spec.python), *spec.watch_args()], logs, cwd=ROOT)


def run_service(args: argparse.Namespace) -> int:
    """Run one ``service`` action; a :class:`ServiceError` is one line and exit status 2."""
    actions = {"install": _install, "status": _status, "remove": _remove, "run": _run}
    try:
        return actions[args.action](args)
    except ServiceError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 2
