"""``edge_app.sources`` keeps its public names importable after the split into sub-packages."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edge_app.sources as sources


@pytest.mark.parametrize("name", sources.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(sources, name) is not None


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="FolderWatcher"):
        _ = sources.FolderWatcher  # type: ignore[attr-defined]


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, edge_app.sources; heavy = {'watchdog', 'pymmcore_plus', 'pycromanager',"
            " 'tifffile', 'cv2'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
