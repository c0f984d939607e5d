"""Another process that holds the store's write lock, like a viewer or a backup would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
after = int(sys.argv[3])
while after and conn.execute("select count(*) from frames").fetchone()[0] < after:
    time.sleep(0.005)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
print("released", flush=True)
"""


def hold_lock(db: Path, seconds: float, *, after_frames: int = 0) -> subprocess.Popen:
    """Start a process that holds ``BEGIN EXCLUSIVE`` on ``db`` for ``seconds``.

    Without ``after_frames``, return once the lock is taken. With it, the process takes the
    lock as soon as the store holds that many frames (the middle of a run); read its stdout
    for ``locked`` and ``released``.
    """
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(seconds), str(after_frames)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    if after_frames:
        return holder
    line = holder.stdout.readline()
    holder.stdout.close()
    if line.strip() != "locked":
        holder.kill()
        raise RuntimeError(f"the lock holder did not take the lock: {line!r}")
    return holder
