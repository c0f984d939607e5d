"""The zoo registry: names, filters, model info, errors, and the paper-size models."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="the model zoo needs the 'train' extra (torch)")
pytest.importorskip("timm", reason="the model zoo needs the 'train' extra (timm)")

from engines import zoo  # noqa: E402

#: Every model of the paper (Appendix B; Table 7 ablations in appendix C) and its section.
PAPER_MODELS = {
    "unetpp_r50": "B.1",
    "deeplabv3_r34": "B.2",
    "attention_unet": "B.3",
    "swin_unet": "B.4",
    "transunet": "B.5",
    "deeplabv3plus_r50": "B.6",
    "refinenet_r34": "B.7",
    "segnet": "B.8",
    "convnext_tiny_ipp": "B.9",
    "vit_b16_ipp": "B.10",
    "coatnet0_ipp": "B.11",
    "fusion_transformer": "B.12",
    "hmtt": "B.13",
    "fusion_image_only": "C",
    "fusion_shape_only": "C",
    "fusion_no_fusion": "C",
    "fusion_no_transformer": "C",
    "convlstm": "B.14",
    "predrnnpp": "B.15",
    "mmfusionnet": "B.16",
    "phydnet": "B.17",
}
CPU_MODELS = {"unet_mobilenetv2_cpu", "unet_r18_cpu", "fusion_cpu", "convlstm_cpu", "filmunet_cpu"}
#: Published parameter counts of the paper backbones without classifier (millions), +-3%.
BACKBONE_PARAMS_M = {"convnext_tiny_ipp": 27.8, "vit_b16_ipp": 85.8}


def test_every_paper_model_is_registered_with_its_section():
    assert set(zoo.list_models(tier="paper")) == set(PAPER_MODELS)
    for name, section in PAPER_MODELS.items():
        info = zoo.model_info(name)
        assert (info.paper_section, info.tier) == (section, "paper"), name


def test_cpu_variants_are_registered_beside_the_paper_sizes():
    assert set(zoo.list_models(tier="cpu")) == CPU_MODELS
    assert set(zoo.list_models("*_cpu")) == CPU_MODELS


def test_every_architecture_has_a_toy_variant():
    toy = {zoo.model_info(name).architecture for name in zoo.list_models(tier="test")}
    full = {zoo.model_info(name).architecture for name in zoo.list_models()}
    assert toy == full
    assert all(name.startswith("test_") for name in zoo.list_models(tier="test"))
    assert zoo.list_models("test_*") == zoo.list_models(tier="test")


def test_list_models_filters_by_pattern_and_task():
    for task in zoo.TASKS:
        names = zoo.list_models(task=task)
        assert names and all(zoo.model_info(n).task == task for n in names)
    assert zoo.list_models("fusion_*", task="ipp") == [
        "fusion_cpu",
        "fusion_image_only",
        "fusion_no_fusion",
        "fusion_no_transformer",
        "fusion_shape_only",
        "fusion_transformer",
    ]
    assert zoo.list_models("fusion_*", task="segmentation") == []
    assert zoo.list_models("no_such_*") == []
    with pytest.raises(ValueError, match="segmentation"):
        zoo.list_models(task="detection")


def test_unknown_name_lists_the_valid_ones_and_close_matches():
    with pytest.raises(zoo.UnknownModelError) as caught:
        zoo.create_model("unetpp_r5")
    message = str(caught.value)
    assert "Did you mean unetpp_r50" in message
    for name in zoo.list_models():
        assert name in message
    with pytest.raises(KeyError):
        zoo.model_info("resnet9000")


def test_model_info_is_frozen_and_describes_the_inputs():
    info = zoo.model_info("fusion_transformer")
    assert (info.task, info.input_size, info.in_chans) == ("ipp", (224, 224), 3)
    assert info.uses_image and info.uses_shape and not info.uses_meta
    assert not zoo.model_info("fusion_image_only").uses_shape
    assert not zoo.model_info("fusion_shape_only").uses_image
    assert zoo.model_info("mmfusionnet").uses_meta
    assert zoo.model_info("hmtt").teacher_forcing
    assert zoo.model_info("convlstm").in_chans == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.task = "segmentation"  # type: ignore[misc]
    with pytest.raises(TypeError):
        info.default_cfg["mean"] = [0.0]  # type: ignore[index]
    cfg = info.config(heads={"cell_line": 3})
    assert cfg["model_kwargs"]["heads"] == {"cell_line": 3}
    assert cfg["mean"] == [0.5, 0.5, 0.5] and cfg["input_size"] == [3, 224, 224]
    assert info.default_cfg["model_kwargs"]["heads"]["timepoint"] == 109
    info.config()["model_kwargs"]["heads"]["timepoint"] = 3  # a copy: the registry keeps 109
    assert (
        zoo.model_info("fusion_transformer").config()["model_kwargs"]["heads"]["timepoint"] == 109
    )


def test_create_model_overrides_travel_in_zoo_cfg():
    heads = {"culture_medium": 6, "cell_line": 7}
    model = zoo.create_model("test_hmtt", heads=heads)
    assert model.zoo_cfg["model_kwargs"]["heads"] == heads
    assert model.head_names == ("cell_line", "culture_medium")  # HMTT's causal order
    with torch.no_grad():
        outputs = model.eval()(*zoo.example_inputs(model))
    assert [o.shape[1] for o in outputs] == [7, 6]
    with pytest.raises(ValueError, match="classes"):
        zoo.create_model("test_convnext_tiny_ipp", heads={"cell_line": 1})


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        zoo.create_model("test_convlstm", checkpoint_path=str(tmp_path / "none.safetensors"))


def test_mismatched_checkpoint_is_refused(tmp_path):
    path = zoo.save_weights(zoo.create_model("test_convlstm"), tmp_path / "w.safetensors")
    with pytest.raises(RuntimeError):
        zoo.create_model("test_convlstm", hidden=8, checkpoint_path=str(path))


def test_importing_engines_does_not_import_torch():
    code = "import sys, engines, engines.morphometry; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.stdout.strip() == "False"


def _million_params(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


@pytest.mark.parametrize("name", sorted(BACKBONE_PARAMS_M))
def test_paper_backbones_have_their_published_size(name):
    model = zoo.create_model(name)
    assert _million_params(model.backbone) == pytest.approx(BACKBONE_PARAMS_M[name], rel=0.03)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted([*PAPER_MODELS, *CPU_MODELS]))
def test_full_size_models_run_at_their_input_size(name):
    model = zoo.create_model(name).eval()
    with torch.inference_mode():
        outputs = model(*zoo.example_inputs(model, batch=1))
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    info = zoo.model_info(name)
    if info.task == "ipp":
        heads = model.zoo_cfg["model_kwargs"]["heads"]
        assert [tuple(o.shape) for o in outputs] == [(1, heads[h]) for h in model.head_names]
    else:
        assert tuple(outputs[0].shape) == (1, 1, *info.input_size)
    assert 0.005 < _million_params(model) < 150
