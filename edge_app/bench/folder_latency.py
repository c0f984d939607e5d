"""``sentinel bench``: file complete -> result in the store, measured on this PC.

Frames of a chosen size are written into a temporary folder at a steady rate, as a
microscope would (in chunks, in place); the real folder source, pipeline and store process
them. For each frame the latency is ``stored_at - completed_at`` (wall clock), and the
per-stage times come from the results themselves.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import psutil

from engines.metrics import p99


@dataclass(frozen=True)
class LatencyReport:
    """Medians and 99th percentiles in milliseconds, plus throughput and memory."""

    frames: int
    stored: int
    size: int
    rate: float
    latency_ms_median: float
    latency_ms_p99: float
    stage_ms_median: dict[str, float]
    stage_ms_p99: dict[str, float]
    frames_per_s: float
    peak_rss_mb: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _base_frame(size: int, seed: int) -> np.ndarray:
    """One rendered spheroid; each written frame flips its low bits so every hash differs."""
    from edge_app.simulation.renderer import SpheroidRenderer

    rng = np.random.default_rng(seed)
    renderer = SpheroidRenderer()
    row = renderer.vocab.sample_row(rng)
    return renderer.render(row, seed, (size, size)).image.astype(np.uint16)


def _write(folder: Path, base: np.ndarray, n: int, rate: float, done: dict[str, float]) -> None:
    import tifffile

    interval = 1.0 / rate if rate > 0 else 0.0
    start = time.perf_counter()
    for i in range(n):
        image = base ^ np.uint16(i + 1)  # same look, distinct bytes
        due = start + i * interval
        time.sleep(max(0.0, due - time.perf_counter()))
        path = folder / f"bench_A{i % 12 + 1}_s0_t{i // 12}h.tif"
        with path.open("wb") as handle:
            tifffile.imwrite(handle, image)
        done[str(path.resolve())] = time.time()


def measure_latency(n: int = 200, size: int = 2048, rate: float = 4.0, seed: int = 1
                    ) -> LatencyReport:
    """Write ``n`` frames of ``size`` x ``size`` uint16 at ``rate``/s and time each one."""
    from edge_app.pipeline.compose import build_pipeline
    from edge_app.settings import load_settings
    from edge_app.store import StoreWriter

    base = _base_frame(size, seed)
    completed: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sentinel-bench-") as tmp:
        folder, db = Path(tmp) / "acq", Path(tmp) / "bench.sqlite"
        folder.mkdir()
        settings = load_settings(None, source={"folder": folder, "settle_s": 0.2,
                                               "name_pattern": "plate-well-site-time"})
        writer = StoreWriter(db)
        pipeline = build_pipeline(settings, writer)
        rss = [psutil.Process().memory_info().rss]
        pipeline.start()
        producer = threading.Thread(target=_write, args=(folder, base, n, rate, completed))
        began = time.perf_counter()
        producer.start()
        deadline = time.monotonic() + n / max(rate, 0.5) + 120
        while pipeline.status().processed < n and time.monotonic() < deadline:
            rss.append(psutil.Process().memory_info().rss)
            time.sleep(0.1)
        elapsed = time.perf_counter() - began
        producer.join()
        pipeline.stop()
        rows = writer.call(lambda s: list(s.db.query(
            "select f.uri, f.stored_at, r.timings from frames f join results r "
            "on r.frame_id = f.id")))
        writer.close()
    return _report(rows, completed, n, size, rate, elapsed, max(rss))


def _report(rows: list[dict], completed: dict[str, float], n: int, size: int, rate: float,
            elapsed: float, peak_rss: int) -> LatencyReport:
    latencies = [(r["stored_at"] - completed[r["uri"]]) * 1e3 for r in rows
                 if r["uri"] in completed]
    stages: dict[str, list[float]] = {}
    for r in rows:
        for stage, ms in json.loads(r["timings"]).items():
            stages.setdefault(stage, []).append(ms)
    return LatencyReport(
        frames=n, stored=len(rows), size=size, rate=rate,
        latency_ms_median=statistics.median(latencies) if latencies else float("nan"),
        latency_ms_p99=p99(latencies),
        stage_ms_median={k: statistics.median(v) for k, v in stages.items()},
        stage_ms_p99={k: p99(v) for k, v in stages.items()},
        frames_per_s=len(rows) / elapsed if elapsed else 0.0,
        peak_rss_mb=peak_rss / 2**20,
    )
