"""Hypothesis profiles of the fuzz suites (loaded by this folder's conftest).

``fast`` (the default, CI): a fixed seed (``HYPOTHESIS_SEED`` or ``--hypothesis-seed`` to
change it), a few dozen examples per target, failing examples kept in the example database
under ``.hypothesis/`` and replayed first on the next run. ``slow``: 1,000
examples per target. Pick it with ``HYPOTHESIS_PROFILE=slow``, or run the ``slow``-marked
``tests/fuzz/test_slow_profile.py`` (``pytest -m slow tests/fuzz``), which runs every target
of this folder under the slow profile and prints the counts.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, core, settings
from hypothesis.database import DirectoryBasedExampleDatabase

# What ``pytest --hypothesis-seed`` sets; ``derandomize`` would switch the database off.
if core.global_force_seed is None:
    core.global_force_seed = int(os.environ.get("HYPOTHESIS_SEED", "20261202"))

EXAMPLES = Path(__file__).resolve().parents[2] / ".hypothesis" / "examples"
_COMMON = {
    "deadline": None,
    "database": DirectoryBasedExampleDatabase(EXAMPLES),
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("fast", max_examples=30, **_COMMON)
settings.register_profile("slow", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def heavy(examples: int) -> settings:
    """Fewer examples in ``fast`` for a costly target (a workbook, a folder scan); the
    ``slow`` profile keeps its 1,000."""
    current = settings.default
    if current.max_examples >= 1000:
        return settings(current)
    return settings(current, max_examples=min(current.max_examples, examples))


#: pytest-timeout of a fuzz test: a hang is caught fast in CI; 1,000 folder scans take longer.
TIMEOUT_S = 3600 if settings.default.max_examples >= 1000 else 300
