"""RootWatch: the watch on the folder source's root, re-armed or polled when it must be."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from edge_app.sources.folder.root import RootWatch

pytestmark = pytest.mark.usefixtures("no_leaked_threads")


class Hints:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.event = threading.Event()

    def __call__(self, path: str, kind: str) -> None:
        self.paths.append(path)
        self.event.set()


def _no_native(polling: bool, interval_s: float) -> BaseObserver:
    if not polling:
        raise OSError(28, "inotify watch limit reached")
    return PollingObserver(timeout=interval_s)


def test_native_watch_that_cannot_start_falls_back_to_polling(tmp_path: Path) -> None:
    hints = Hints()
    watch = RootWatch(tmp_path, hints, polling=False, interval_s=0.1, observer_factory=_no_native)
    watch.arm()
    try:
        assert watch.state.startswith("polling (native watch failed:")
        assert "inotify watch limit reached" in watch.state
        (tmp_path / "a.tif").write_bytes(b"x")
        assert hints.event.wait(5) and str(tmp_path / "a.tif") in hints.paths
    finally:
        watch.close(5)


def test_removed_root_is_reported_once_and_rearmed_when_back(tmp_path: Path) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    hints = Hints()
    watch = RootWatch(root, hints, polling=False, interval_s=0.1,
                      observer_factory=lambda polling, i: Observer())
    watch.arm()
    try:
        assert watch.check() is None and watch.state == "native watch"
        shutil.rmtree(root)
        assert watch.check() == "removed" and watch.missing
        assert watch.check() is None  # said once
        root.mkdir()
        assert watch.check() == "re-armed" and not watch.missing
        assert "re-armed: the folder was re-created" in watch.state
        hints.paths.clear()
        hints.event.clear()
        (root / "b.tif").write_bytes(b"x")
        assert hints.event.wait(5) and str(root / "b.tif") in hints.paths
    finally:
        watch.close(5)
    assert watch.check() is None  # closed: nothing is re-armed any more


def test_removed_and_recreated_between_checks_is_noticed(tmp_path: Path) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    watch = RootWatch(root, Hints(), polling=False, interval_s=0.1)
    watch.arm()
    try:
        shutil.rmtree(root)
        root.mkdir()  # the same inode may come back: the dead emitter still tells
        deadline = time.monotonic() + 5
        outcome = watch.check()
        while outcome is None and time.monotonic() < deadline:
            time.sleep(0.05)
            outcome = watch.check()
        assert outcome == "re-armed"
    finally:
        watch.close(5)
