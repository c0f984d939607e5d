"""``sentinel watch --once`` under store faults, as a separate process (issue 12 triggers).

The store is locked by another process, the file size is capped (``ulimit -f``), a file
name overflows the writer, the store is locked at start. Every frame ends in the store
exactly once (possibly after a restart that replays the spool); nothing is lost silently;
``--once`` exits non-zero while anything is left unwritten.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tifffile

from edge_app.store import Store
from edge_app.store.spool import spool_path
from tests.edge_app.store.lockholder import hold_lock
from tests.support import drawn_spheroid

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process limits")
REPO = Path(__file__).resolve().parents[3]


def _frames(folder: Path, n: int, size: int = 96) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        well = f"{'ABCDEFGH'[i // 12 % 8]}{i % 12 + 1}"
        tifffile.imwrite(folder / f"P1_{well}_s{i // 96}_t24h.tif",
                         drawn_spheroid(size, radius=18 + i % 9, seed=i))


def _watch(folder: Path, db: Path, *, env: dict | None = None, fsize: int | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    def limit() -> None:
        if fsize is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    full_env |= {"SENTINEL_SOURCE__SETTLE_S": "0", "SENTINEL_SEGMENTATION__BACKEND": "classical",
                 "SENTINEL_ENGINES__IPP": "off", "SENTINEL_ENGINES__FORECAST": "off",
                 **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "edge_app", "watch", str(folder), "--db", str(db), "--once",
         "--headless", "--pattern", "plate-well-site-time", "--log-level", "ERROR"],
        cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
        preexec_fn=limit,
    )


def _frames_in(db: Path) -> list[tuple]:
    store = Store(db, readonly=True)
    try:
        return store.db.execute(
            "select status, count(*), count(distinct uri) from frames group by status "
            "order by status").fetchall()
    finally:
        store.close()


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.mark.timeout(300)
def test_issue12_watch_once_with_store_locked_then_restart_stores_all(tmp_path):
    folder, db = tmp_path / "acq", tmp_path / "run.sqlite"
    _frames(folder, 120, size=128)
    Store(db).close()
    holder = hold_lock(db, 40)
    try:
        run = _watch(folder, db, env={"SENTINEL_STORE__FLUSH_S": "0.5",
                                      "SENTINEL_STORE__START_WAIT_S": "0"}, timeout=60)
    finally:
        holder.kill()
        holder.wait(10)
    # start-up itself waits 0 s for the lock: one clear line, exit 2, nothing lost
    assert run.returncode == 2
    assert "locked by another process" in _one_error_line(run.stderr)
    holder = hold_lock(db, 600, after_frames=3)  # taken in the middle of the run
    try:
        run = _watch(folder, db, env={"SENTINEL_STORE__FLUSH_S": "0"})
    finally:
        holder.kill()  # the viewer is closed once the run has ended
        out, _ = holder.communicate(timeout=60)
    assert out.split() == ["locked"]
    line = _one_error_line(run.stderr)
    assert "not written to the store" in line and "database locked by another process" in line
    assert spool_path(db).exists()
    again = _watch(folder, db)
    assert again.returncode == 0, again.stderr
    assert _frames_in(db) == [("processed", 120, 120)]
    assert not spool_path(db).exists()


@pytest.mark.timeout(300)
def test_issue12_watch_once_with_file_size_capped_exits_non_zero_then_catches_up(tmp_path):
    folder, db = tmp_path / "acq", tmp_path / "run.sqlite"
    _frames(folder, 20)
    Store(db).close()
    capped = _watch(folder, db, fsize=64 * 1024, env={"SENTINEL_STORE__FLUSH_S": "0.5"})
    assert capped.returncode != 0
    line = _one_error_line(capped.stderr)
    assert "not written to the store" in line and "file size limit" in line
    again = _watch(folder, db)
    assert again.returncode == 0, again.stderr
    assert _frames_in(db) == [("processed", 20, 20)]


@pytest.mark.timeout(120)
def test_issue12_overflowing_site_in_a_name_is_failed_once_with_its_reason(tmp_path):
    folder, db = tmp_path / "acq", tmp_path / "run.sqlite"
    _frames(folder, 2)
    name = "plate_A1_s99999999999999999999999_t24h.tif"
    tifffile.imwrite(folder / name, drawn_spheroid(96, radius=20, seed=5))
    first = _watch(folder, db)
    assert first.returncode == 0, first.stderr
    assert _frames_in(db) == [("failed", 1, 1), ("processed", 2, 2)]
    store = Store(db, readonly=True)
    reason = store.db.execute("select reason from frames where status = 'failed'").fetchone()[0]
    store.close()
    assert "site 99999999999999999999999 is out of range" in reason
    second = _watch(folder, db)
    assert second.returncode == 0, second.stderr
    assert _frames_in(db) == [("failed", 1, 1), ("processed", 2, 2)]
    assert name not in second.stdout  # not analysed again


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_issue12_watch_needs_an_existing_folder(tmp_path, kind):
    target = tmp_path / "acq"
    if kind == "file":
        target.write_text("not a folder")
    run = _watch(target, tmp_path / "run.sqlite", timeout=60)
    assert run.returncode == 2
    line = _one_error_line(run.stderr)
    assert str(target) in line
    assert ("does not exist" if kind == "missing" else "is a file, not a folder") in line
