"""The checks of ``sentinel doctor``: what will actually run on this PC and what to fix.

Each check returns a :class:`Check` (ok / warn / fail, what was found, what to do). Probes
of the outside world (``nvidia-smi``, the environment, disk usage) are arguments, so tests
can give a PC that is not this one. PySide6 is only looked up, never imported (Qt stays in
the dashboard); TensorRT is imported only through the engines' TensorRT runtime module.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edge_app.service.filesystem import FolderFileSystem, folder_filesystem

GiB = 2**30
DISK_FAIL_BYTES, DISK_WARN_BYTES = 1 * GiB, 10 * GiB
_GPU_QUERY = ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
_FIX_GPU_EXTRA = "python3 -m installer test (adds the gpu extra on a PC with an NVIDIA GPU)"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: ``status`` is ok, warn or fail."""

    name: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class GpuInfo:
    """What ``nvidia-smi`` says: one ``name, driver, memory`` line per GPU (empty: none)."""

    gpus: tuple[str, ...]
    error: str = ""


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", f"{type(exc).__name__}: {exc}")


def probe_gpu(which: Callable[[str], str | None] = shutil.which,
              run: Callable[[list[str]], subprocess.CompletedProcess] = _run) -> GpuInfo:
    """Ask ``nvidia-smi`` for each GPU's name, driver version and memory."""
    smi = which("nvidia-smi")
    if smi is None:
        return GpuInfo(())
    out = run([smi, *_GPU_QUERY])
    if out.returncode != 0:
        lines = (out.stderr or out.stdout or "").strip().splitlines()
        return GpuInfo((), lines[-1] if lines else f"exit status {out.returncode}")
    return GpuInfo(tuple(line.strip() for line in out.stdout.splitlines() if line.strip()))


def gpu_check(info: GpuInfo) -> Check:
    if info.error:
        return Check("GPU and driver", "fail", f"nvidia-smi failed: {info.error}",
                     "the NVIDIA driver is not working: reinstall it or restart the PC")
    if not info.gpus:
        return Check("GPU and driver", "warn", "no NVIDIA GPU (nvidia-smi not found): the "
                     "engines run on the CPU", "for GPU speed, install an NVIDIA GPU and driver")
    described = []
    for line in info.gpus:
        name, driver, memory = ([p.strip() for p in line.split(",")] + ["?", "?"])[:3]
        described.append(f"{name}, driver {driver}, {memory}")
    return Check("GPU and driver", "ok", "; ".join(described))


def cuda_check(gpu: bool) -> Check:
    """PyTorch's CUDA (the torch runtime and the TensorRT path use it); ``gpu``: nvidia-smi
    lists one."""
    if importlib.util.find_spec("torch") is None:
        return Check("CUDA (PyTorch)", "warn" if gpu else "ok",
                     "PyTorch not installed: no torch runtime" + (
                         ", so no CUDA graphs or TensorRT plans" if gpu else ""),
                     _FIX_GPU_EXTRA if gpu else "")
    try:
        import torch
    except Exception as exc:  # a broken install (missing CUDA libraries) raises anything
        return Check("CUDA (PyTorch)", "fail", f"import torch failed: {exc}",
                     "reinstall PyTorch: " + _FIX_GPU_EXTRA)
    version = getattr(torch.version, "cuda", None)
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        major, minor = torch.cuda.get_device_capability(0)
        return Check("CUDA (PyTorch)", "ok", f"CUDA {version} on {name} (compute "
                     f"{major}.{minor}), torch {torch.__version__}")
    if not gpu:
        return Check("CUDA (PyTorch)", "ok", f"torch {torch.__version__} on the CPU (no GPU)")
    why = ("this PyTorch is a CPU-only build" if version is None else
           f"PyTorch built for CUDA {version} sees no GPU (driver too old for it?)")
    return Check("CUDA (PyTorch)", "fail", why, "install the CUDA build of PyTorch: "
                 + _FIX_GPU_EXTRA)


def onnxruntime_check(gpu: bool) -> Check:
    import onnxruntime as ort

    providers = ort.get_available_providers()
    cuda = "CUDAExecutionProvider" in providers
    names = ", ".join(p.removesuffix("ExecutionProvider") for p in providers)
    detail = f"onnxruntime {ort.__version__}: {names}"
    if gpu and not cuda:
        return Check("ONNX Runtime", "warn", detail + " (no CUDA provider)",
                     "onnxruntime-gpu gives ONNX Runtime on CUDA: " + _FIX_GPU_EXTRA)
    return Check("ONNX Runtime", "ok", detail)


def tensorrt_check(gpu: bool) -> Check:
    from engines.runtimes.base import RuntimeUnavailable
    from engines.runtimes.tensorrt_rt import import_tensorrt

    try:
        trt = import_tensorrt()
    except RuntimeUnavailable as exc:
        if not gpu:
            return Check("TensorRT", "ok", "not installed (not needed without an NVIDIA GPU)")
        return Check("TensorRT", "warn", str(exc).split(";")[0], _FIX_GPU_EXTRA)
    except Exception as exc:  # a broken install raises anything (missing libnvinfer ...)
        return Check("TensorRT", "fail", f"import failed: {type(exc).__name__}: {exc}",
                     "reinstall the gpu extra: " + _FIX_GPU_EXTRA)
    if not gpu:
        return Check("TensorRT", "warn", f"tensorrt {trt.__version__} installed but no GPU",
                     "TensorRT needs an NVIDIA GPU and driver")
    return Check("TensorRT", "ok", f"tensorrt {trt.__version__} importable")


def disk_check(store: Path, usage: Callable[[Path], Any] = shutil.disk_usage) -> Check:
    """Free space on the drive of the store (its logs and spool live there too)."""
    folder = Path(store).absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    total = usage(folder)
    free_gib, total_gib = total.free / GiB, total.total / GiB
    detail = f"{free_gib:.1f} GiB free of {total_gib:.0f} GiB at {folder}"
    if total.free < DISK_FAIL_BYTES:
        return Check("free disk beside the store", "fail", detail,
                     "free space on this drive or put store.path on another drive")
    if total.free < DISK_WARN_BYTES:
        return Check("free disk beside the store", "warn", detail,
                     "less than 10 GiB: free space before a long run")
    return Check("free disk beside the store", "ok", detail)


def display_check(env: Mapping[str, str] = os.environ, platform: str = sys.platform,
                  find_spec: Callable[[str], Any] = importlib.util.find_spec) -> Check:
    """Can the dashboard open here: PySide6 installed and a display to open it on."""
    if find_spec("PySide6") is None:
        return Check("display for the dashboard", "warn", "PySide6 not installed: no "
                     "dashboard ('watch --headless' works)",
                     "pip install 'spheroid-sentinel[ui]' (or python3 -m installer demo)")
    version = _version("PySide6") or "?"
    if env.get("QT_QPA_PLATFORM") == "offscreen":
        return Check("display for the dashboard", "warn", f"PySide6 {version}, but "
                     "QT_QPA_PLATFORM=offscreen: windows are not shown", "unset QT_QPA_PLATFORM")
    if platform.startswith("linux"):
        display = env.get("WAYLAND_DISPLAY") or env.get("DISPLAY")
        if not display:
            return Check("display for the dashboard", "warn", f"PySide6 {version}, but no "
                         "display (DISPLAY / WAYLAND_DISPLAY unset): the dashboard cannot open "
                         "here", "run headless here (the service does), or from the desktop")
        return Check("display for the dashboard", "ok", f"PySide6 {version}, display {display}")
    return Check("display for the dashboard", "ok", f"PySide6 {version} ({platform} desktop)")


def folder_check(folder: Path | None, polling: bool,
                 probe: Callable[[Path], FolderFileSystem | None] = folder_filesystem) -> Check:
    """The watched folder exists, is readable, and whether events will arrive there."""
    name = "watched folder"
    if folder is None:
        return Check(name, "warn", "none given", "give --folder (or --config with "
                     "source.folder) to check it")
    if not folder.is_dir():
        return Check(name, "fail", f"{folder} is not a folder",
                     "create it or set source.folder to the folder the microscope saves to")
    if not os.access(folder, os.R_OK | os.X_OK):
        return Check(name, "fail", f"{folder} is not readable by this user",
                     "give this user read access to it")
    fs = probe(folder)
    if fs is None:
        return Check(name, "ok", f"{folder} (file system not checked on this OS)")
    if fs.network and not polling:
        return Check(name, "warn", f"{folder}: {fs.describe()}; file events from other "
                     "PCs do not arrive there", "set source.polling = true in the settings "
                     "file (or watch --polling)")
    mode = "polling" if polling else "file events"
    return Check(name, "ok", f"{folder}: {fs.describe()}; {mode}")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
