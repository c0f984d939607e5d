"""Soak: 10,000 frames through the live folder pipeline with the default engines.

A writer thread drops 256 x 256 TIFFs into a watched folder, keeping at most a few hundred
ahead of the pipeline (a microscope faster than the PC would only grow the folder). Every
500 stored frames the test samples the process's resident memory, open file descriptors and
threads. After the warm-up (the first 2,000 frames: engine sessions, caches, SQLite pages)
each must stay flat: within 5% of its post-warm-up minimum. It prints the samples, the
frames per second and the database size per frame.

``SOAK_FRAMES`` changes the count (e.g. 2500 for a quick look; the bar is 10,000).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile

from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.store import Store, StoreWriter
from tests.support import drawn_spheroid

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")]

N_FRAMES = int(os.environ.get("SOAK_FRAMES", "10000"))
STEP = 500
WARMUP = min(2000, N_FRAMES // 2)
AHEAD = 200
WELLS = [f"{r}{c}" for r in "ABCDEFGH" for c in range(1, 13)]


@dataclass(frozen=True)
class Sample:
    frames: int
    seconds: float
    rss_mb: float
    fds: int
    threads: int


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _sample(frames: int, started: float) -> Sample:
    threads = [t for t in threading.enumerate() if t.name != "soak-dropper"]
    return Sample(frames, time.monotonic() - started, _rss_mb(),
                  len(os.listdir("/proc/self/fd")), len(threads))


def _name(i: int) -> str:
    well, site, t = WELLS[i % 96], (i // 96) % 8, i // (96 * 8)
    return f"SOAK_{well}_s{site}_t{24 * (t + 1)}h.tif"


def _drop_frames(folder: Path, done_count, stop: threading.Event) -> None:
    pool = [drawn_spheroid(256, radius=30 + k, seed=k, dtype=np.uint8) for k in range(16)]
    for i in range(N_FRAMES):
        while i - done_count() >= AHEAD and not stop.is_set():
            time.sleep(0.02)
        if stop.is_set():
            return
        image = pool[i % len(pool)].copy()
        image[0, 0] = i % 251  # distinct content per frame
        temporary = folder / f".{i}.part"
        tifffile.imwrite(temporary, image)
        temporary.replace(folder / _name(i))


def _flat(values: list[float], tolerance: float, slack: float) -> bool:
    low = min(values)
    return max(values) <= low * (1 + tolerance) + slack


@pytest.mark.timeout(7200)
def test_soak_10000_frames_memory_fds_threads_flat(tmp_path):
    folder, db = tmp_path / "acq", tmp_path / "soak.sqlite"
    folder.mkdir()
    settings = load_settings(None, source={"folder": folder, "settle_s": 0.05,
                                           "rescan_s": 5.0, "name_pattern": "plate-well-site-time"})
    writer = StoreWriter(db)
    pipeline = build_pipeline(settings, writer)

    def done() -> int:
        status = pipeline.status()
        return status.processed + status.failed + status.duplicates

    stop = threading.Event()
    dropper = threading.Thread(target=_drop_frames, args=(folder, done, stop),
                               name="soak-dropper", daemon=True)
    samples: list[Sample] = []
    started = time.monotonic()
    pipeline.start()
    dropper.start()
    try:
        while len(samples) < N_FRAMES // STEP:
            next_mark = STEP * (len(samples) + 1)
            while done() < next_mark:
                assert dropper.is_alive() or done() >= N_FRAMES - AHEAD, "the dropper died"
                assert time.monotonic() - started < 7000, f"stuck at {done()} frames"
                time.sleep(0.05)
            samples.append(_sample(done(), started))
            print(f"soak {samples[-1]}", file=sys.stderr)
    finally:
        stop.set()
        dropper.join(30)
        pipeline.stop()
        status = pipeline.status()
        writer.close()
    elapsed = samples[-1].seconds
    store = Store(db, readonly=True)
    summary = store.summary()
    store.close()
    db_bytes = sum(p.stat().st_size for p in tmp_path.glob("soak.sqlite*"))
    print(f"soak: {summary.frames} frames ({summary.processed} processed, {summary.failed} "
          f"failed) in {elapsed:.0f} s = {summary.frames / elapsed:.1f} frames/s; database "
          f"{db_bytes / 2**20:.1f} MiB = {db_bytes / summary.frames:.0f} bytes/frame; "
          f"engines: segmentation {pipeline.analyser.segmenter.name}, ipp "
          f"{getattr(pipeline.analyser.ipp, 'name', None)}, forecast "
          f"{getattr(pipeline.analyser.history.forecaster, 'name', None)}", file=sys.stderr)
    assert summary.frames == N_FRAMES and summary.processed == N_FRAMES, summary
    assert status.unwritten == 0
    after = [s for s in samples if s.frames > WARMUP]
    assert _flat([s.rss_mb for s in after], 0.05, 0.0), [s.rss_mb for s in after]
    assert _flat([s.fds for s in after], 0.05, 1), [s.fds for s in after]
    assert _flat([s.threads for s in after], 0.05, 0), [s.threads for s in after]
