"""A 2-process CPU DDP run (gloo) from torchrun completes and learns like one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["-m", "trainer.train", "--preset", "demo-segmentation", "--tiny", "--epochs", "5",
        "--device", "cpu", "--no-export"]


def _run(command: list[str], out: Path) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([*command, *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    history = json.loads((out / "demo-segmentation-tiny" / "history.json").read_text())
    return [row["train_loss"] for row in history]


def test_torchrun_two_processes_loss_falls_like_single_process(tmp_path) -> None:
    single = _run([sys.executable], tmp_path / "single")
    ddp = _run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", "2"], tmp_path / "ddp")
    config = json.loads((tmp_path / "ddp" / "demo-segmentation-tiny" / "config.json")
                        .read_text())
    assert config["world_size"] == 2 and config["device"] == "cpu"
    assert len(ddp) == len(single) == 5
    single_drop = 1 - single[-1] / single[0]
    ddp_drop = 1 - ddp[-1] / ddp[0]
    assert single_drop > 0.05 and ddp_drop > 0.05, (single, ddp)
    # Two ranks take half the steps per epoch on twice the batch: the fall is comparable.
    assert 0.4 < ddp_drop / single_drop < 2.5, (single, ddp)
    assert abs(ddp[0] - single[0]) < 0.25 * single[0], (single, ddp)
