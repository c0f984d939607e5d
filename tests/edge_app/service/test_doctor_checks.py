"""``sentinel doctor``'s checks: each says what it found and what to fix, on this PC and on
PCs given through the probes (nvidia-smi output, /proc/mounts text, drive types, env)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections import namedtuple
from pathlib import Path

import pytest

from edge_app.service import doctor_checks as dc
from edge_app.service.engine_checks import engine_check, stage_plan
from edge_app.service.filesystem import (
    FolderFileSystem,
    linux_filesystem,
    parse_mounts,
    windows_filesystem,
)
from edge_app.settings import load_settings

MOUNTS = """\
/dev/sda2 / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
//nas/lab\\040data /mnt/lab\\040data cifs rw,vers=3.1.1 0 0
nas:/export/scope /mnt/lab\\040data/scope nfs4 rw 0 0
/dev/sdb1 /mnt/lab ext4 rw 0 0
"""


# --- the watched folder's file system ----------------------------------------------------


def test_proc_mounts_escapes_and_longest_mount_point_win():
    assert parse_mounts(MOUNTS)[2] == ("//nas/lab data", "/mnt/lab data", "cifs")
    share = linux_filesystem(Path("/mnt/lab data/plate 7"), MOUNTS)
    assert share.network and share.kind == "cifs" and share.device == "//nas/lab data"
    nested = linux_filesystem(Path("/mnt/lab data/scope/run1"), MOUNTS)
    assert nested.network and nested.kind == "nfs4"
    local = linux_filesystem(Path("/mnt/lab/plate"), MOUNTS)  # /mnt/lab is not /mnt/lab data
    assert not local.network and local.mount == "/mnt/lab"
    assert linux_filesystem(Path("/home/me"), MOUNTS).mount == "/"


def test_windows_unc_and_mapped_drives_are_shares():
    types = {"Z:\\": 4, "C:\\": 3, "E:\\": 2}
    assert windows_filesystem("\\\\nas\\lab\\plate7", types.get).network
    mapped = windows_filesystem("Z:\\plates\\p7", types.get)
    assert mapped.network and mapped.kind == "remote"
    fixed = windows_filesystem("C:\\Data\\p7", types.get)
    assert not fixed.network and fixed.kind == "fixed"
    assert windows_filesystem("E:\\p7", types.get).kind == "removable"


def test_folder_check_advises_polling_on_a_share(tmp_path):
    share = FolderFileSystem(str(tmp_path), "/mnt/s", "cifs", "//nas/s", True)
    events = dc.folder_check(tmp_path, polling=False, probe=lambda p: share)
    assert events.status == "warn" and "network share (cifs from //nas/s" in events.detail
    assert "source.polling = true" in events.fix
    polled = dc.folder_check(tmp_path, polling=True, probe=lambda p: share)
    assert polled.status == "ok" and polled.detail.endswith("; polling")
    missing = dc.folder_check(tmp_path / "gone", polling=False)
    assert missing.status == "fail" and "not a folder" in missing.detail
    assert dc.folder_check(None, polling=False).status == "warn"
    here = dc.folder_check(tmp_path, polling=False)  # the real probe on this PC
    assert here.status in ("ok", "warn") and str(tmp_path) in here.detail


# --- GPU, CUDA, TensorRT -----------------------------------------------------------------


def test_gpu_check_reads_nvidia_smi():
    def smi(stdout: str = "", code: int = 0, stderr: str = ""):
        return lambda cmd: subprocess.CompletedProcess(cmd, code, stdout, stderr)

    found = dc.probe_gpu(lambda name: "/usr/bin/nvidia-smi",
                         smi("NVIDIA H200, 570.86.15, 143771 MiB\n"))
    check = dc.gpu_check(found)
    assert check.status == "ok" and check.detail == "NVIDIA H200, driver 570.86.15, 143771 MiB"
    broken = dc.gpu_check(dc.probe_gpu(lambda name: "nvidia-smi",
                                       smi(code=9, stderr="NVIDIA-SMI has failed because it "
                                           "couldn't communicate with the NVIDIA driver")))
    assert broken.status == "fail" and "couldn't communicate" in broken.detail
    none = dc.gpu_check(dc.probe_gpu(lambda name: None))
    assert none.status == "warn" and "nvidia-smi not found" in none.detail


def test_gpu_check_on_this_pc():
    check = dc.gpu_check(dc.probe_gpu())
    expected = "ok" if shutil.which("nvidia-smi") else "warn"
    assert check.status in (expected, "fail") and check.detail


def test_cuda_check_with_the_installed_torch():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        check = dc.cuda_check(gpu=True)
        assert check.status == "ok" and "CUDA" in check.detail
        return
    assert dc.cuda_check(gpu=False).status == "ok"
    wrong = dc.cuda_check(gpu=True)  # nvidia-smi would list a GPU this torch cannot use
    assert wrong.status == "fail" and "installer" in wrong.fix


def test_tensorrt_check_without_tensorrt():
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    assert dc.tensorrt_check(gpu=False).status == "ok"
    needed = dc.tensorrt_check(gpu=True)
    assert needed.status == "warn" and "TensorRT is not installed" in needed.detail
    assert "gpu extra" in needed.fix


def test_onnxruntime_check_names_its_providers():
    check = dc.onnxruntime_check(gpu=False)
    assert check.status == "ok" and "CPU" in check.detail


# --- disk and display --------------------------------------------------------------------


def test_disk_check_thresholds(tmp_path):
    usage = namedtuple("usage", "total used free")
    db = tmp_path / "not" / "yet" / "run.sqlite"  # nearest existing folder is measured
    seen: list[Path] = []

    def measure(free: int):
        return lambda folder: seen.append(folder) or usage(500 * dc.GiB, 0, free)

    assert dc.disk_check(db, measure(200 * dc.GiB)).status == "ok"
    assert seen[-1] == tmp_path
    assert dc.disk_check(db, measure(5 * dc.GiB)).status == "warn"
    full = dc.disk_check(db, measure(10 * 2**20))
    assert full.status == "fail" and "0.0 GiB free" in full.detail
    assert "GiB free" in dc.disk_check(tmp_path / "run.sqlite").detail


def test_display_check():
    have = {"PySide6": object()}.get
    assert dc.display_check({}, "linux", lambda name: None).status == "warn"
    headless = dc.display_check({}, "linux", have)
    assert headless.status == "warn" and "DISPLAY" in headless.detail
    assert dc.display_check({"DISPLAY": ":0"}, "linux", have).status == "ok"
    assert dc.display_check({"WAYLAND_DISPLAY": "wayland-0"}, "linux", have).status == "ok"
    assert dc.display_check({}, "win32", have).status == "ok"
    offscreen = dc.display_check({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux",
                                 have)
    assert offscreen.status == "warn"


# --- engines -----------------------------------------------------------------------------


def test_each_engine_names_its_bundle_runtime_and_reason():
    plan = stage_plan(load_settings(None))
    assert [stage for stage, *_ in plan] == ["segmentation", "ipp", "forecast"]
    for step in plan:
        if step[1] is None:
            continue
        check = engine_check(*step)
        assert check.status == "ok", check
        assert "verified; runtime" in check.detail and "choice" in check.detail


def test_off_classical_and_tampered_bundles(tmp_path):
    settings = load_settings(None, segmentation={"backend": "classical"},
                             engines={"ipp": "off", "forecast": "off"})
    checks = [engine_check(*step) for step in stage_plan(settings)]
    assert [c.status for c in checks] == ["ok", "ok", "ok"]
    assert "classical" in checks[0].detail and "off" in checks[1].detail
    from engines.bundle import default_bundle

    nothing = load_settings(None, segmentation={"backend": "engine",
                                                "bundle": tmp_path / "none"})
    absent = engine_check(*stage_plan(nothing)[0])
    assert absent.status == "fail" and "no manifest.json" in absent.detail
    source = default_bundle("segmentation")
    if source is None:
        pytest.skip("no segmentation bundle installed")
    copy = tmp_path / "segmentation"
    shutil.copytree(source, copy)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[-1] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    check = engine_check("segmentation", copy, "auto", "engine")
    assert check.status == "fail" and "model.onnx was modified" in check.detail


def test_doctor_names_what_the_real_pipeline_loads(tmp_path):
    """Guard against drift: the doctor's engine lines match build_pipeline's engines."""
    from edge_app.pipeline.compose import build_pipeline
    from edge_app.sources.sim.replay import ReplaySource
    from edge_app.store import StoreWriter

    settings = load_settings(None)
    writer = StoreWriter(tmp_path / "run.sqlite")
    try:
        pipeline = build_pipeline(settings, writer, source=ReplaySource([]))
        used = pipeline.analyser.engines_used()
    finally:
        writer.close()
    checks = {c.name.removeprefix("engine: "): c for c in
              (engine_check(*step) for step in stage_plan(settings))}
    assert "segmentation" in used and set(used) <= set(checks)
    for stage, check in checks.items():
        if stage not in used:
            assert "verified" not in check.detail, (stage, check)
            continue
        record = used[stage]
        if record["hash"] is None:
            assert "classical" in check.detail
            continue
        assert f"sha256 {record['hash'][:12]}" in check.detail, (record, check)
        assert f"runtime {record['runtime']} on" in check.detail, (record, check)
