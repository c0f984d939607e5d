"""Shared fixtures: thread-leak checks."""

from __future__ import annotations

import threading
import time

import pytest


@pytest.fixture
def no_thread_leak():
    """Fail when a test leaves threads running (as watchdog's own tests do)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"threads leaked: {[t.name for t in leaked]}")
