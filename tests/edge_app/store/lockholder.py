"""Another process that holds the store's write lock, like a viewer or a backup would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_lock(db: Path, seconds: float) -> subprocess.Popen:
    """Start a process that holds ``BEGIN EXCLUSIVE`` on ``db`` for ``seconds``; return once
    the lock is taken."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(db), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    line = holder.stdout.readline()
    holder.stdout.close()
    if line.strip() != "locked":
        holder.kill()
        raise RuntimeError(f"the lock holder did not take the lock: {line!r}")
    return holder
