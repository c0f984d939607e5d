"""The one-way layers and the heavy-import rules hold (import-linter contracts in pyproject)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: it comes with the dev extra (import-linter)")
    return found


def test_import_contracts_are_kept() -> None:
    out = subprocess.run([_lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_the_contracts_cover_layers_and_heavy_imports() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for needle in ('"trainer", "edge_app", "engines"', "Qt only in the dashboard",
                   "TensorRT only", "pycromanager only", "acyclic_siblings"):
        assert needle in text, needle
