"""Crash anywhere: 1,000 frames, 5 SIGKILLs at random points, a 20 s lock in the middle.

Frames land as plain TIFFs, a Micro-Manager one-TIFF-per-image acquisition and an NDTiff
dataset while ``sentinel watch`` runs as a separate process. It is SIGKILLed five times at
points drawn from a seeded generator (one of them while another process holds the store's
write lock for 20 s, so results wait in the spool when the kill comes) and restarted after
each kill. At the end every frame is in the store exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge_app.simulation.writers import FrameRecord, WriterOptions, create_writer
from edge_app.store import Store
from edge_app.store.spool import spool_path
from tests.edge_app.store.lockholder import hold_lock
from tests.support import drawn_spheroid

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX-only")]

LAYOUT = (("tiff", 400), ("mm-single", 300), ("ndtiff", 300))
TOTAL = sum(count for _, count in LAYOUT)
WELLS = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]
LOCK_S = 20.0
REPO = Path(__file__).resolve().parents[2]


def _write_acquisitions(root: Path, progress: list[int], done: threading.Event) -> None:
    options = WriterOptions("crash", datetime(2026, 12, 2, 9, tzinfo=UTC), chunks=3,
                            chunk_delay_s=0.002, sleep=time.sleep)
    pool = [drawn_spheroid(128, radius=18 + k, seed=k) for k in range(12)]
    n = 0
    for fmt, count in LAYOUT:
        writer = create_writer(fmt, root / fmt, options)
        try:
            for i in range(count):
                well, t = WELLS[i % 96], i // 96
                image = pool[n % len(pool)].copy()
                image[0, 0] = np.uint16(n)  # distinct content per frame
                writer.write(FrameRecord(image, "P9", well, 0, 24.0 * (t + 1), t, i % 96,
                                         t * 3.6e6 + i * 100.0, 2.0))
                n += 1
                progress[0] = n
                time.sleep(0.06)
        finally:
            writer.close()
    done.set()


def _start_watcher(root: Path, db: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    env |= {"SENTINEL_SOURCE__SETTLE_S": "0.2", "SENTINEL_SOURCE__RESCAN_S": "1.0",
            # a restart while the lock is held waits for it instead of giving up
            "SENTINEL_STORE__START_WAIT_S": str(3 * LOCK_S)}
    with log.open("a") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "edge_app", "watch", str(root), "--db", str(db),
             "--headless", "--pattern", "plate-well-site-time", "--log-level", "ERROR"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        )


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    store = Store(db, readonly=True)
    try:
        return store.summary().frames
    finally:
        store.close()


def _spooled(db: Path) -> int:
    """Entries in the spool, read without touching it (the watcher may be appending)."""
    try:
        return spool_path(db).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _kill(watcher: subprocess.Popen) -> None:
    watcher.send_signal(signal.SIGKILL)
    watcher.wait(10)
    assert watcher.returncode == -signal.SIGKILL


@pytest.mark.timeout(1500)
def test_five_sigkills_and_a_20_s_lock_then_every_frame_exactly_once(tmp_path):
    root, db, log = tmp_path / "acq", tmp_path / "run.sqlite", tmp_path / "watch.log"
    root.mkdir()
    rng = random.Random(20261202)
    # five kill points spread over the acquisition; the third comes during the lock
    kills = sorted(rng.sample(range(60, 940), 5))
    lock_at = kills[2]
    progress, done = [0], threading.Event()
    acquisition = threading.Thread(target=_write_acquisitions, args=(root, progress, done))
    watcher = _start_watcher(root, db, log)
    acquisition.start()
    spooled_at_kill: list[int] = []
    holder = None
    try:
        for number, kill_at in enumerate(kills, start=1):
            if number == 3:  # the lock comes once the restarted watcher writes again
                assert _wait_for(lambda: progress[0] >= lock_at, 300)
                before = _stored(db)
                assert _wait_for(lambda b=before: _stored(db) > b, 120), "watcher not writing"
                holder = hold_lock(db, LOCK_S)
                locked_at = time.monotonic()
                assert _wait_for(lambda: _spooled(db) >= 3, 0.75 * LOCK_S), _spooled(db)
            else:
                assert _wait_for(lambda k=kill_at: progress[0] >= k, 300), progress
            time.sleep(rng.uniform(0.0, 1.0))  # a random moment of the pipeline's work
            if number == 3:
                assert time.monotonic() - locked_at < LOCK_S, "the kill missed the lock"
            spooled_at_kill.append(_spooled(db))
            _kill(watcher)
            watcher = _start_watcher(root, db, log)
        acquisition.join(300)
        assert done.is_set()
        if holder is not None:
            holder.wait(60)
        assert _wait_for(lambda: _stored(db) >= TOTAL, 300), f"only {_stored(db)} stored"
        time.sleep(2.0)  # two rescan periods: nothing more may arrive
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
        watcher.send_signal(signal.SIGINT)
        watcher.wait(60)
    assert watcher.returncode == 0, log.read_text()[-3000:]
    store = Store(db, readonly=True)
    rows = store.db.execute(
        "select status, count(*), count(distinct uri), count(distinct sha) from frames "
        "group by status").fetchall()
    runs = store.db.execute("select count(*) from engine_runs").fetchone()[0]
    store.close()
    print(f"crash anywhere: {TOTAL} frames, kills at {kills} frames written, lock of "
          f"{LOCK_S:g} s from frame {lock_at}, spool entries at each kill {spooled_at_kill}, "
          f"{runs} runs, store rows {rows}", file=sys.stderr)
    assert rows == [("processed", TOTAL, TOTAL, TOTAL)]
    assert spooled_at_kill[2] > 0  # the third kill came while results waited in the spool
    assert not spool_path(db).exists()
