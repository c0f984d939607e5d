"""``sentinel doctor``: what will run on this PC and what to fix; with ``--mm`` whether the
Micro-Manager routes work. The PC checks live in :mod:`edge_app.service.doctor_checks`."""

from __future__ import annotations

import logging
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edge_app.cli import app, configure_logging, run_command
from edge_app.cli.output import console
from edge_app.service.doctor_checks import Check

if TYPE_CHECKING:
    from edge_app.sources.mm.pymmcore_source import CoreProvider

log = logging.getLogger(__name__)

#: Versions the Micro-Manager routes are tested with (pyproject extra ``mm``).
MM_PINS = {"pycromanager": "1.0.2", "mmpycorex": "0.3.16", "pymmcore-plus": "0.18.1"}
MM_OTHERS = ("pymmcore", "useq-schema", "psygnal")
CORE_PACKAGES = ("numpy", "scikit-image", "opencv-python-headless", "tifffile", "watchdog",
                 "sqlite-utils", "onnxruntime")
_FIX_PACKAGES = "pip install 'spheroid-sentinel[mm]' (or: python3 -m installer test)"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def package_checks(packages: dict[str, str | None]) -> list[Check]:
    """Installed and pinned versions (``None`` pin: any version)."""
    checks = []
    for name, pin in packages.items():
        found = _version(name)
        if found is None:
            checks.append(Check(name, "fail", "not installed", _FIX_PACKAGES))
        elif pin is not None and found != pin:
            checks.append(Check(name, "warn", f"{found} (tested with {pin})",
                                f"pip install '{name}=={pin}'"))
        else:
            checks.append(Check(name, "ok", found))
    return checks


def port_check(port: int, host: str) -> Check:
    from edge_app.sources.mm.pycromanager_source import mm_server_up, unreachable_message

    if mm_server_up(port, host):
        return Check(f"Micro-Manager server {host}:{port}", "ok", "answers")
    return Check(f"Micro-Manager server {host}:{port}", "warn",
                 "nothing listens (needed only for --source pycromanager)",
                 unreachable_message(port, host))


def snap_check(mm_config: Path | None, java_port: int | None) -> Check:
    """One test frame: running Micro-Manager, configured hardware, or the virtual scope."""
    started = time.perf_counter()
    image: Any
    try:
        if java_port is not None:
            from edge_app.sources.mm.pycromanager_source import acquire_test_frame

            what, image = "pycromanager (running Micro-Manager)", acquire_test_frame(java_port)
        else:
            what, image = _snap_pymmcore(mm_config)
    except Exception as exc:  # the point of a doctor: report, do not crash
        fix = ("check the .cfg loads in Micro-Manager's Hardware Configuration Wizard"
               if mm_config else "reinstall the mm extra: " + _FIX_PACKAGES)
        return Check("test snap", "fail", f"{type(exc).__name__}: {exc}", fix)
    ms = (time.perf_counter() - started) * 1e3
    return Check("test snap", "ok",
                 f"{what}: {image.shape[1]}x{image.shape[0]} {image.dtype} in {ms:.0f} ms")


def _snap_pymmcore(mm_config: Path | None) -> tuple[str, Any]:
    provider: CoreProvider
    if mm_config is not None:
        from edge_app.sources.mm.pymmcore_source import ConfiguredCore

        provider = ConfiguredCore(mm_config)
        what = f"pymmcore-plus with {mm_config.name}"
    else:
        from edge_app.sources.mm.plate_plan import make_plate_plan
        from edge_app.sources.sim.virtual_scope import VirtualPlateMicroscope

        provider = VirtualPlateMicroscope(make_plate_plan(96, wells=["A1"]), frame_size=128)
        what = "pymmcore-plus virtual plate microscope"
    core = provider.open()
    try:
        core.snapImage()
        return what, core.getImage()
    finally:
        del core
        provider.close()


def mm_checks(mm_config: Path | None, port: int, host: str) -> list[Check]:
    checks = package_checks({**MM_PINS, **dict.fromkeys(MM_OTHERS)})
    if any(c.status == "fail" for c in checks):
        return checks
    port_ok = port_check(port, host)
    checks.append(port_ok)
    java = port if port_ok.status == "ok" and mm_config is None and host == "127.0.0.1" else None
    checks.append(snap_check(mm_config, java))
    return checks


def _show(checks: list[Check]) -> None:
    from rich.markup import escape
    from rich.table import Table

    colours = {"ok": "green", "warn": "yellow", "fail": "red"}
    table = Table("check", "status", "detail")
    for check in checks:
        table.add_row(check.name, f"[{colours[check.status]}]{check.status}[/]",
                      escape(check.detail))
    console.print(table)
    for check in checks:
        if check.fix:
            console.print(f"[bold]{check.name}[/bold]: {escape(check.fix)}")


def packages_check() -> Check:
    """The core packages in one line (each missing one is a failure)."""
    found = {name: _version(name) for name in CORE_PACKAGES}
    missing = [name for name, version in found.items() if version is None]
    detail = ", ".join(f"{name} {version}" for name, version in found.items() if version)
    if missing:
        return Check("packages", "fail", f"missing: {', '.join(missing)}; {detail}",
                     "pip install -e . (or: python3 -m installer test)")
    return Check("packages", "ok", detail)


def pc_checks(settings: Any, engines: bool = True) -> list[Check]:
    """GPU and driver, CUDA, ONNX Runtime, TensorRT, each engine's bundle and runtime, disk
    beside the store, a display for the dashboard, the watched folder's file system."""
    from edge_app.service import doctor_checks as dc
    from edge_app.service.engine_checks import engine_checks

    gpu_info = dc.probe_gpu()
    gpu = bool(gpu_info.gpus)
    checks = [dc.gpu_check(gpu_info), dc.cuda_check(gpu), dc.onnxruntime_check(gpu),
              dc.tensorrt_check(gpu)]
    if engines:
        checks += engine_checks(settings)
    return [*checks, dc.disk_check(settings.store.path), dc.display_check(),
            dc.folder_check(settings.source.folder, settings.source.polling), packages_check()]


@app.command()
def doctor(
    mm: Annotated[bool, typer.Option("--mm", help="Check the Micro-Manager routes.")] = False,
    config: Annotated[Path | None, typer.Option(
        help="Settings TOML (the service's sentinel.toml): its folder, store and engines.")]
    = None,
    folder: Annotated[Path | None, typer.Option(help="Watched folder to check.")] = None,
    db: Annotated[Path | None, typer.Option(help="SQLite store (its drive's free space).")]
    = None,
    engines: Annotated[bool, typer.Option(
        help="Open each engine's runtime (a first TensorRT build takes minutes).")] = True,
    mm_config: Annotated[Path | None, typer.Option(
        help="Snap with this hardware .cfg instead of the virtual microscope.")] = None,
    port: Annotated[int, typer.Option(help="Micro-Manager ZMQ server port.")] = 4827,
    host: Annotated[str, typer.Option(help="Micro-Manager host.")] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "ERROR",
) -> None:
    """Say what will run on this PC and what to fix (exit 1 on a failure).

    GPU and driver (nvidia-smi), CUDA (PyTorch), ONNX Runtime providers, TensorRT, for each
    engine the bundle (hashes verified) and the runtime it will use and why, free disk
    beside the store, a display for the dashboard, and the watched folder's file system
    (a network share needs polling). Folder, store and engines come from --config.

    --mm: pycromanager/pymmcore-plus versions, port 4827 reachable, one test snap (through a
    running Micro-Manager when its server answers, else --mm-config hardware, else the
    virtual plate microscope), and what to fix.

    Example: sentinel doctor --config sentinel.toml

    Example: sentinel doctor --mm
    """

    def body() -> None:
        from edge_app.settings import load_settings

        configure_logging(log_level)
        settings = load_settings(config, source={"folder": folder}, store={"path": db})
        checks = mm_checks(mm_config, port, host) if mm else pc_checks(settings, engines)
        _show(checks)
        if not mm:
            console.print("Add --mm to check the Micro-Manager routes.")
        if any(c.status == "fail" for c in checks):
            raise typer.Exit(1)

    run_command(body)
