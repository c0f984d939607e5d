"""The ``slow`` fuzz run: every target of this folder with 1,000 examples (``pytest -m slow
tests/fuzz``). It runs the suites in a child pytest under ``HYPOTHESIS_PROFILE=slow`` and
prints how many examples each target passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
_TEST = re.compile(r"^(tests/fuzz/\S+::\S+):$")
_COUNTS = re.compile(r"- (\d+) passing, (\d+) failing, and (\d+) invalid test cases")


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_every_fuzz_target_passes_1000_examples():
    env = {**os.environ, "HYPOTHESIS_PROFILE": "slow"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/fuzz", "-q", "-p", "no:cacheprovider",
         "-m", "not slow", "--hypothesis-show-statistics"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=7000)
    counts: dict[str, int] = {}
    exhausted: set[str] = set()
    current = None
    for line in run.stdout.splitlines():
        if match := _TEST.match(line.strip()):
            current = match.group(1)
        elif current is not None and (match := _COUNTS.search(line)):
            counts[current] = counts.get(current, 0) + int(match.group(1))
        elif current is not None and "nothing left to do" in line:
            exhausted.add(current)  # every distinct input was tried before 1,000
    for name, passed in sorted(counts.items()):
        print(f"fuzz slow profile: {passed:5d} passing examples  {name}", file=sys.stderr)
    assert run.returncode == 0, run.stdout[-5000:]
    assert counts, run.stdout[-3000:]
    small = {n: c for n, c in counts.items() if c < 1000 and n not in exhausted}
    assert not small, small
