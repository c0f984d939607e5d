"""On a GPU PC the installer swaps the CPU onnxruntime wheel for onnxruntime-gpu."""

from __future__ import annotations

from pathlib import Path

import installer.bootstrap as bootstrap


def test_gpu_swap_uninstalls_the_cpu_wheel_before_installing_the_gpu_one(monkeypatch):
    calls = []
    monkeypatch.setattr(bootstrap.subprocess, "run",
                        lambda args, **kw: calls.append(list(args)))
    bootstrap.swap_onnxruntime_for_gpu(Path("python"))
    assert [c[-3:] for c in calls] == [["uninstall", "-y", "onnxruntime"],
                                       ["-q", "install", "onnxruntime-gpu"]]
