"""Fixtures of the end-to-end tests on a simulated acquisition."""

from __future__ import annotations

import pytest


@pytest.fixture
def mm_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Micro-Manager runs (micromanager.md §7): an empty adapter folder, psygnal signals."""
    monkeypatch.setenv("MICROMANAGER_PATH", str(tmp_path_factory.mktemp("mm-adapters")))
    monkeypatch.setenv("PYMM_SIGNALS_BACKEND", "psygnal")
