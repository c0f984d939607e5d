"""Exactly once across crashes: the watcher is SIGKILLed twice while frames are being written.

200 frames land slowly, in chunks, as plain TIFFs, a Micro-Manager one-TIFF-per-image
acquisition and an NDTiff dataset. ``sentinel watch`` runs as a separate process; it is killed
with SIGKILL twice midway and restarted. At the end the store holds every frame exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_app.simulation.writers import FrameRecord, WriterOptions, create_writer
from edge_app.store import Store
from tests.support import drawn_spheroid

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")

LAYOUT = (("tiff", 80), ("mm-single", 60), ("ndtiff", 60))
WELLS = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]


def _write_acquisitions(root: Path, progress: list[int], done: threading.Event) -> None:
    options = WriterOptions("exact", datetime(2026, 11, 28, 9, tzinfo=UTC), chunks=4,
                            chunk_delay_s=0.01, sleep=time.sleep)
    n = 0
    for fmt, count in LAYOUT:
        writer = create_writer(fmt, root / fmt, options)
        try:
            for i in range(count):
                well, t = WELLS[i % 40], i // 40
                image = drawn_spheroid(128, radius=20 + (n % 15), seed=n)
                writer.write(FrameRecord(image, "P7", well, 0, 24.0 * (t + 1), t, i % 40,
                                         t * 3.6e6 + i * 100.0, 2.0))
                n += 1
                progress[0] = n
                time.sleep(0.03)
        finally:
            writer.close()
    done.set()


def _start_watcher(root: Path, db: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "SENTINEL_SOURCE__SETTLE_S": "0.2", "SENTINEL_SOURCE__RESCAN_S": "1.0"}
    with log.open("a") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_app", "watch", str(root), "--db", str(db),
             "--headless", "--pattern", "plate-well-site-time", "--log-level", "ERROR"],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    store = Store(db, readonly=True)
    try:
        return store.summary().frames
    finally:
        store.close()


@pytest.mark.timeout(240)
def test_sigkill_twice_then_every_frame_exactly_once(tmp_path):
    root, db, log = tmp_path / "acq", tmp_path / "run.sqlite", tmp_path / "watch.log"
    root.mkdir()
    progress, done = [0], threading.Event()
    total = sum(count for _, count in LAYOUT)
    writer = threading.Thread(target=_write_acquisitions, args=(root, progress, done))
    watcher = _start_watcher(root, db, log)
    writer.start()
    try:
        for kill_at in (60, 130):
            assert _wait_for(lambda k=kill_at: progress[0] >= k, 120)
            watcher.send_signal(signal.SIGKILL)
            watcher.wait(10)
            assert watcher.returncode == -signal.SIGKILL
            watcher = _start_watcher(root, db, log)
        writer.join(120)
        assert done.is_set()
        assert _wait_for(lambda: _stored(db) >= total, 120), f"only {_stored(db)} stored"
        time.sleep(1.5)  # a rescan period: nothing more may arrive
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(30)
    assert watcher.returncode == 0, log.read_text()  # Ctrl-C stops cleanly
    store = Store(db, readonly=True)
    rows = store.db.execute(
        "select status, count(*), count(distinct uri), count(distinct sha) from frames "
        "group by status").fetchall()
    store.close()
    assert rows == [("processed", total, total, total)]
