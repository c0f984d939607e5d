"""Create or reuse the checkout's virtual environment and install the project into it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installer-stamp"

# Extras every test run needs; the GPU extra is added when this PC has an NVIDIA GPU.
TEST_EXTRAS = ("dev", "mm", "train", "ui")
DEMO_EXTRAS = ("mm", "ui")


def venv_python(venv_dir: Path | None = None) -> Path:
    """Path of the interpreter inside ``venv_dir`` (default: the checkout's) on this platform."""
    venv_dir = VENV if venv_dir is None else venv_dir
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def has_nvidia_gpu() -> bool:
    """True when ``nvidia-smi`` is on PATH and lists at least one GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def wanted_extras(base: tuple[str, ...]) -> tuple[str, ...]:
    """Extras for this PC: ``base`` plus ``gpu`` when an NVIDIA GPU is present."""
    extras = list(base)
    if has_nvidia_gpu() and os.environ.get("SENTINEL_NO_GPU_EXTRA") != "1":
        extras.append("gpu")
    return tuple(sorted(set(extras)))


def _fingerprint(extras: tuple[str, ...]) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(",".join(extras).encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def _log(message: str) -> None:
    sys.stderr.write(f"[installer] {message}\n")
    sys.stderr.flush()


def ensure_environment(extras: tuple[str, ...]) -> Path:
    """Create ``.venv`` if missing and install the project with ``extras``; return its python.

    Re-running is cheap: when ``pyproject.toml`` and the extras are unchanged since the last
    successful install (a stamp file in the venv records them), pip is not called again.
    """
    python = venv_python()
    if not python.exists():
        _log(f"creating virtual environment in {VENV.name}/")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    # A stamp from a larger install covers a smaller one (demo after test).
    fingerprints = STAMP.read_text().split() if STAMP.exists() else []
    wanted = _fingerprint(extras)
    if wanted in fingerprints:
        _log(f"environment up to date (extras: {', '.join(extras) or 'none'})")
        return python
    spec = f".[{','.join(extras)}]" if extras else "."
    _log(f"installing spheroid-sentinel{spec[1:]} (editable)")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", spec],
        cwd=ROOT,
        check=True,
    )
    if "gpu" in extras:
        swap_onnxruntime_for_gpu(python)
    STAMP.write_text("\n".join([*fingerprints, wanted]) + "\n")
    return python


def swap_onnxruntime_for_gpu(python: Path) -> None:
    """Replace the CPU ``onnxruntime`` wheel with ``onnxruntime-gpu`` (CUDA provider).

    Both wheels install the same ``onnxruntime`` module, so they cannot coexist: the CPU one
    (a core dependency) is removed first. The GPU wheel also runs on the CPU.
    """
    _log("GPU found: replacing onnxruntime with onnxruntime-gpu (CUDA execution provider)")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "uninstall", "-y", "onnxruntime"], cwd=ROOT, check=False)
    subprocess.run([*pip, "install", "onnxruntime-gpu"], cwd=ROOT, check=True)


def run_in_venv(python: Path, args: list[str], env: dict[str, str] | None = None,
                cwd: Path | None = None) -> int:
    """Run ``python args...`` from ``cwd`` (default: the checkout root); its exit status."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(python), *args], cwd=cwd or ROOT, env=full_env,
                          check=False).returncode
