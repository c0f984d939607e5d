"""The stdlib-only installer: no third-party imports, venv reuse, extras per PC."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import installer.bootstrap as bootstrap

INSTALLER = Path(bootstrap.__file__).parent


def test_installer_imports_only_the_standard_library():
    for path in INSTALLER.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "installer", (path.name, name)


def test_venv_python_path_per_platform(monkeypatch, tmp_path):
    monkeypatch.setattr(bootstrap.os, "name", "nt")
    assert bootstrap.venv_python(tmp_path) == tmp_path / "Scripts" / "python.exe"
    monkeypatch.setattr(bootstrap.os, "name", "posix")
    assert bootstrap.venv_python(tmp_path) == tmp_path / "bin" / "python"


def test_gpu_extra_only_with_an_nvidia_gpu(monkeypatch):
    monkeypatch.setattr(bootstrap, "has_nvidia_gpu", lambda: True)
    monkeypatch.delenv("SENTINEL_NO_GPU_EXTRA", raising=False)
    assert bootstrap.wanted_extras(("dev",)) == ("dev", "gpu")
    monkeypatch.setenv("SENTINEL_NO_GPU_EXTRA", "1")
    assert bootstrap.wanted_extras(("dev",)) == ("dev",)
    monkeypatch.setattr(bootstrap, "has_nvidia_gpu", lambda: False)
    monkeypatch.delenv("SENTINEL_NO_GPU_EXTRA")
    assert bootstrap.wanted_extras(("mm", "dev")) == ("dev", "mm")


def test_up_to_date_environment_skips_pip(monkeypatch, tmp_path):
    venv_dir = tmp_path / ".venv"
    python = bootstrap.venv_python(venv_dir)
    python.parent.mkdir(parents=True)
    python.write_text("")
    stamp = venv_dir / ".installer-stamp"
    monkeypatch.setattr(bootstrap, "VENV", venv_dir)
    monkeypatch.setattr(bootstrap, "STAMP", stamp)
    calls = []
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda *a, **k: calls.append(a))
    assert bootstrap.ensure_environment(("dev",)) == python
    assert len(calls) == 1  # first time: pip install
    assert bootstrap.ensure_environment(("dev",)) == python
    assert len(calls) == 1  # unchanged pyproject and extras: reused
    bootstrap.ensure_environment(("dev", "mm"))
    assert len(calls) == 2  # other extras: install again
    assert "-e" in calls[-1][0] and ".[dev,mm]" in calls[-1][0]


def test_cli_help_runs_without_third_party_packages():
    out = subprocess.run([sys.executable, "-S", "-m", "installer", "--help"],
                         cwd=INSTALLER.parent, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "demo" in out.stdout and "test" in out.stdout
