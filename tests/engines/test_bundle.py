"""Engine bundles: export writes every file with its hash; any tampering is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from engines.bundle import BundleError, load_bundle, sha256_file
from tests.engines.tiny_bundles import ipp_bundle


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return ipp_bundle(tmp_path_factory.mktemp("bundles") / "ipp")


@pytest.fixture
def copy(exported, tmp_path):
    return shutil.copytree(exported.path, tmp_path / "copy")


def test_export_writes_a_complete_verified_bundle(exported):
    files = {p.name for p in exported.path.iterdir()}
    assert files == {"manifest.json", "model.onnx", "weights.safetensors", "golden_inputs.npz",
                     "golden_outputs.npz"}
    m = exported.manifest
    assert set(m.files) == files - {"manifest.json"}
    assert all(sha256_file(exported.path / n) == h for n, h in m.files.items())
    assert [h.name for h in m.output.heads] == ["cell_line", "seeding_density"]
    assert m.output.heads[1].ordinal and m.output.heads[1].labels[0] == "1000"
    assert m.calibration.conformal["cell_line"]["0.01"] == pytest.approx(0.97)
    assert m.input.tensors[0].shape == (-1, 3, 32, 32) and m.input.size == (32, 32)
    assert len(m.input.shape_mean) == 9 and m.command == "pytest tiny_bundles"
    inputs, outputs = exported.golden()
    assert set(inputs) == {"image", "shape"} and set(outputs) == {"cell_line", "seeding_density"}
    assert outputs["cell_line"].shape == (2, 3)


def _expect_refusal(path, *words):
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    message = str(info.value)
    assert "sentinel train" in message and "sentinel engines build" in message, message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("name", ["weights.safetensors", "model.onnx", "golden_outputs.npz"])
def test_a_modified_file_is_refused(copy, name):
    with (copy / name).open("r+b") as handle:
        handle.seek(200)
        byte = handle.read(1)
        handle.seek(200)
        handle.write(bytes([byte[0] ^ 0xFF]))
    _expect_refusal(copy, name, "modified")


def test_an_edited_manifest_is_refused(copy):
    data = json.loads((copy / "manifest.json").read_text())
    data["output"]["heads"][0]["labels"] = ["MCF7", "HCT116", "U87"]  # swapped vocabulary
    (copy / "manifest.json").write_text(json.dumps(data))
    _expect_refusal(copy, "manifest.json", "edited")


def test_a_manifest_with_a_forged_hash_is_refused(copy):
    data = json.loads((copy / "manifest.json").read_text())
    (copy / "model.onnx").write_bytes(b"not a model")
    data["files"]["model.onnx"] = sha256_file(copy / "model.onnx")
    (copy / "manifest.json").write_text(json.dumps(data))
    _expect_refusal(copy, "edited")


def test_missing_file_invalid_manifest_and_non_bundle_are_refused(copy, tmp_path):
    (copy / "weights.safetensors").unlink()
    _expect_refusal(copy, "weights.safetensors is missing")
    (copy / "manifest.json").write_text('{"task": "sorting"}')
    _expect_refusal(copy, "not a valid manifest", "task")
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect_refusal(empty, "no manifest.json")


def test_golden_arrays_round_trip(exported):
    inputs, _ = exported.golden()
    assert inputs["image"].dtype == np.float32 and inputs["image"].shape == (2, 3, 32, 32)


def test_shipped_onnx_files_carry_no_exporter_debug_metadata():
    """The exporter's stack traces would put the building machine's paths into the repo."""
    import onnx

    from engines.bundle import default_bundle

    for task in ("segmentation", "ipp", "nextframe"):
        model = onnx.load(str(default_bundle(task) / "model.onnx"))
        assert not any(node.metadata_props for node in model.graph.node), task
