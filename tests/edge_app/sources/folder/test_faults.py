"""Files that fail while the folder source reads them: each is recorded once with its reason,
later good files still arrive, and a one-pass run ends (issue 9's bar, issue 12's triggers).

Faults are injected at the source's own seam, the ``reader`` that opens and decodes a file
(chmod 000 does not stop root); one real chmod case runs when the tests are not root.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.folder.source import FolderSource
from edge_app.sources.readers import ImageRecord, read_image
from tests.edge_app.sources.conftest import Collector

WATCHDOG_RACE = "ignore:Callback with id .* already exists for watch:RuntimeWarning"
pytestmark = [
    pytest.mark.usefixtures("no_leaked_threads"),
    pytest.mark.filterwarnings(WATCHDOG_RACE),
    pytest.mark.timeout(120),
]


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4096, (48, 48), dtype=np.uint16)


def _write(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tifffile.imwrite(tmp, _image(seed))
    os.replace(tmp, path)


class FaultyReader:
    """``read_image`` with a fault per file name; counts the reads of each name."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()
        self.faults: dict[str, Callable[[Path, int], None]] = {}
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> ImageRecord:
        with self._lock:
            self.reads[path.name] += 1
            n = self.reads[path.name]
        fault = self.faults.get(path.name)
        if fault is not None:
            fault(path, n)
        return read_image(path)


def locked_always(path: Path, n: int) -> None:
    raise PermissionError(13, "Permission denied", str(path))


def locked_twice(path: Path, n: int) -> None:
    if n <= 2:  # a Windows sharing lock while the microscope still holds the file
        raise PermissionError(13, "The process cannot access the file", str(path))


def vanishes(path: Path, n: int) -> None:
    path.unlink()  # deleted between the stat and the open


def replaced_once(path: Path, n: int) -> None:
    if n == 1:  # the old content is read while a new version replaces the file
        _write(path, seed=999)


def explodes(path: Path, n: int) -> None:
    raise RuntimeError("decoder bug")


def _faulty_folder(root: Path, reader: FaultyReader) -> None:
    for name, fault in (("locked.tif", locked_always), ("flaky.tif", locked_twice),
                        ("vanish.tif", vanishes), ("replaced.tif", replaced_once),
                        ("boom.tif", explodes)):
        reader.faults[name] = fault
        _write(root / "plate" / name, seed=len(name))


def _by_name(items: list[Frame | FrameFailure]) -> dict[str, list[Frame | FrameFailure]]:
    out: dict[str, list[Frame | FrameFailure]] = {}
    for item in items:
        uri = item.meta.uri if isinstance(item, Frame) else item.uri
        out.setdefault(Path(uri).name, []).append(item)
    return out


def _check_faults(items: list[Frame | FrameFailure]) -> None:
    by_name = _by_name(items)
    assert all(len(v) == 1 for v in by_name.values()), {k: len(v) for k, v in by_name.items()}
    reasons = {k: v[0].reason for k, v in by_name.items() if isinstance(v[0], FrameFailure)}
    assert "permission denied" in reasons.pop("locked.tif")
    assert "vanished" in reasons.pop("vanish.tif")
    assert "RuntimeError: decoder bug" in reasons.pop("boom.tif")
    assert not reasons, reasons  # flaky, replaced and the good files became frames
    replaced = by_name["replaced.tif"][0]
    assert isinstance(replaced, Frame)
    assert np.array_equal(replaced.pixels, _image(999))  # the new version, read whole


def _wait_for_name(collector: Collector, name: str, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if name in _by_name(collector.items):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("polling", [False, True], ids=["native", "polling"])
def test_live_faults_recorded_once_and_later_files_still_arrive(
    tmp_path: Path, collector: Collector, polling: bool
) -> None:
    reader = FaultyReader()
    _faulty_folder(tmp_path, reader)
    source = FolderSource(tmp_path, settle_s=0.2, rescan_s=1.0, polling=polling,
                          give_up_s=1.5, reader=reader)
    source.open(collector)
    try:
        assert collector.wait_for(5, timeout=20)
        _write(tmp_path / "plate" / "good_after.tif", seed=1)
        assert _wait_for_name(collector, "good_after.tif")
        # The plate folder is deleted and created again; its new files still arrive.
        shutil.rmtree(tmp_path / "plate")
        time.sleep(0.5)
        _write(tmp_path / "plate" / "after_recreate.tif", seed=2)
        assert _wait_for_name(collector, "after_recreate.tif")
        time.sleep(1.0)  # anything recorded twice would show up by now
    finally:
        source.close(5)
    _check_faults(collector.items)
    assert reader.reads["flaky.tif"] == 3 and reader.reads["replaced.tif"] == 2
    assert source.health().alive and source.health().errors == 0


def test_one_pass_with_faults_ends_within_10s(tmp_path: Path, collector: Collector) -> None:
    reader = FaultyReader()
    _faulty_folder(tmp_path, reader)
    for k in range(5):
        _write(tmp_path / "plate" / f"good_{k}.tif", seed=10 + k)
    source = FolderSource(tmp_path, once=True, reader=reader)
    started = time.monotonic()
    source.open(collector)
    try:
        assert source.wait(timeout=10), "a one-pass scan must end"
    finally:
        source.close(5)
    assert time.monotonic() - started < 10
    _check_faults(collector.items)
    assert len(collector.items) == 10


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="chmod 000 does not stop root; the injected PermissionError covers it")
def test_real_unreadable_file(tmp_path: Path, collector: Collector) -> None:
    _write(tmp_path / "secret.tif", seed=3)
    _write(tmp_path / "fine.tif", seed=4)
    os.chmod(tmp_path / "secret.tif", 0)
    try:
        source = FolderSource(tmp_path, once=True, give_up_s=1.0)
        source.open(collector)
        assert source.wait(timeout=10)
        source.close(5)
    finally:
        os.chmod(tmp_path / "secret.tif", 0o644)
    by_name = _by_name(collector.items)
    assert "permission denied" in by_name["secret.tif"][0].reason  # type: ignore[union-attr]
    assert isinstance(by_name["fine.tif"][0], Frame)


def test_watched_root_deleted_and_recreated_rearms_the_watch(
    tmp_path: Path, collector: Collector
) -> None:
    root = tmp_path / "watch"
    root.mkdir()
    _write(root / "first.tif", seed=5)
    # A rescan once a minute: only a re-armed watch picks up files in time.
    source = FolderSource(root, settle_s=0.2, rescan_s=60.0)
    source.open(collector)
    try:
        assert _wait_for_name(collector, "first.tif")
        shutil.rmtree(root)
        deadline = time.monotonic() + 5
        while "missing" not in source.state and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "missing" in source.state
        root.mkdir()
        deadline = time.monotonic() + 5
        while "re-armed" not in source.state and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "native watch (re-armed" in source.state
        _write(root / "second.tif", seed=6)
        assert _wait_for_name(collector, "second.tif", timeout=5)
    finally:
        source.close(5)
    assert [i for i in collector.items if isinstance(i, FrameFailure)] == []
    health = source.health()  # the removal is a source error: the pipeline alerts on it
    assert health.errors == 1 and "was removed" in (health.error or "")


def test_reacquired_file_is_a_new_frame(tmp_path: Path, collector: Collector) -> None:
    _write(tmp_path / "plate_A1_s0_t24h.tif", seed=7)
    source = FolderSource(tmp_path, settle_s=0.2, rescan_s=0.5)
    source.open(collector)
    try:
        assert collector.wait_for(1)
        time.sleep(0.05)
        _write(tmp_path / "plate_A1_s0_t24h.tif", seed=8)  # same name, new content
        assert collector.wait_for(2)
        time.sleep(1.2)  # two rescans: nothing more arrives
    finally:
        source.close(5)
    frames = collector.frames
    assert len(collector.items) == 2 and len(frames) == 2
    assert frames[0].meta.uri == frames[1].meta.uri and frames[0].sha != frames[1].sha
    assert np.array_equal(frames[1].pixels, _image(8))


def test_no_pattern_tries_the_presets_and_says_which_matched(
    tmp_path: Path, collector: Collector
) -> None:
    _write(tmp_path / "plate_A10_s0_t24h.tif", seed=9)  # what `sentinel synth plate` writes
    source = FolderSource(tmp_path, once=True)
    source.open(collector)
    assert source.wait(timeout=10)
    source.close(5)
    (frame,) = collector.frames
    assert (frame.meta.well, frame.meta.site, frame.meta.hours) == ("A10", 0, 24.0)
    assert "plate-well-site-time" in source.state


def test_hours_group_that_is_not_a_number_fails_the_frame(
    tmp_path: Path, collector: Collector
) -> None:
    _write(tmp_path / "A1_t48h.tif", seed=10)
    _write(tmp_path / "A2_t12h.tif", seed=11)
    pattern = r"^(?P<well>[A-H]\d+)_(?P<hours>[^.]+)"  # captures "t48h", not 48
    source = FolderSource(tmp_path, once=True, name_pattern=pattern)
    source.open(collector)
    assert source.wait(timeout=10), "the checker must not die on the pattern"
    source.close(5)
    failures = collector.failures
    assert len(failures) == 2 and all("'hours' captured 't" in f.reason for f in failures)
    assert source.health().alive and source.health().errors == 0


def test_infinite_settle_cannot_hang_a_one_pass_run(tmp_path: Path, collector: Collector) -> None:
    _write(tmp_path / "a.tif", seed=12)
    source = FolderSource(tmp_path, once=True, settle_s=float("1e309"), rescan_s=1e309)
    source.open(collector)
    assert source.wait(timeout=30), "settle_s=inf must be capped"
    source.close(5)
    assert len(collector.frames) == 1
    with pytest.raises(ValueError, match="settle_s"):
        FolderSource(tmp_path, settle_s=float("nan"))


def test_a_dead_checker_thread_is_seen_and_restarted(
    tmp_path: Path, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Killed(BaseException):
        pass

    source = FolderSource(tmp_path, settle_s=0.1, rescan_s=0.5)
    real_step, calls = source._step, Counter[str]()

    def dies_once(next_scan: float) -> bool:
        calls["step"] += 1
        if calls["step"] == 1:
            raise Killed("thread killed")
        return real_step(next_scan)

    monkeypatch.setattr(source, "_step", dies_once)
    source.open(collector)
    try:
        deadline = time.monotonic() + 5
        while source.health().alive and time.monotonic() < deadline:
            time.sleep(0.02)
        health = source.health()
        assert not health.alive and health.errors == 1 and "Killed" in (health.error or "")
        source.restart()
        _write(tmp_path / "after.tif", seed=13)
        assert collector.wait_for(1, timeout=10)
        assert source.health().alive
    finally:
        source.close(5)
