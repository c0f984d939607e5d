"""Every paper-* preset (Appendix B) and the demo set run one real optimisation step on CPU."""

from __future__ import annotations

import pytest
import torch

from trainer.train.adapters import core, make_adapter
from trainer.train.data import DataSpec, load_splits
from trainer.train.loop import Trainer
from trainer.train.recipes import (
    PAPER_RECIPES,
    UnknownPresetError,
    get_preset,
    list_presets,
    tiny,
)

PAPER_MODELS = {
    "segmentation": {"unetpp_r50", "deeplabv3_r34", "attention_unet", "swin_unet", "transunet",
                     "deeplabv3plus_r50", "refinenet_r34", "segnet"},
    "ipp": {"convnext_tiny_ipp", "vit_b16_ipp", "coatnet0_ipp", "fusion_transformer",
            "fusion_image_only", "fusion_shape_only", "fusion_no_fusion",
            "fusion_no_transformer", "hmtt"},
    "nextframe": {"convlstm", "predrnnpp", "mmfusionnet", "phydnet"},
}


def test_every_paper_model_has_a_preset() -> None:
    for task, models in PAPER_MODELS.items():
        have = {r.model for r in PAPER_RECIPES if r.task == task}
        assert have == models, task
    for models in PAPER_MODELS.values():
        for model in models:
            (recipe,) = get_preset(f"paper-{model}")
            assert recipe.epochs == 200 and recipe.early_stopping == 40


def test_appendix_b_recipes() -> None:
    (unetpp,) = get_preset("paper-unetpp_r50")
    assert (unetpp.loss, dict(unetpp.loss_kwargs)) == (
        "focal_tversky", {"alpha": 0.7, "beta": 0.3, "gamma": 0.75})
    assert (unetpp.optimiser, unetpp.lr, unetpp.batch_size) == ("adam", 1e-4, 8)
    assert unetpp.scheduler is not None and unetpp.scheduler.mode == "max"
    assert unetpp.scheduler.factor == 0.5 and unetpp.scheduler.patience == 5
    (deeplab,) = get_preset("paper-deeplabv3_r34")
    assert (deeplab.loss, deeplab.optimiser, deeplab.lr, deeplab.weight_decay) == (
        "bce_dice", "adamw", 3e-4, 1e-4)
    (fusion,) = get_preset("paper-fusion_transformer")
    assert (fusion.optimiser, fusion.weight_decay, fusion.batch_size) == ("adamw", 1e-2, 32)
    assert fusion.class_weighted and fusion.monitor == "f1" and fusion.input_size == 224
    (hmtt,) = get_preset("paper-hmtt")
    assert hmtt.teacher_forcing and hmtt.amp
    (mmf,) = get_preset("paper-mmfusionnet")
    assert mmf.loss == "mse_ssim" and mmf.scheduler is not None and mmf.scheduler.patience == 10
    (convlstm,) = get_preset("paper-convlstm")
    assert convlstm.scheduler is None and convlstm.monitor == "ssim" and convlstm.loss == "l1"


def test_demo_is_the_three_default_engines() -> None:
    demo = get_preset("demo")
    assert [r.task for r in demo] == ["segmentation", "ipp", "nextframe"]
    from engines.zoo import model_info

    assert model_info(demo[1].model).uses_shape  # IPP with shape features


def test_unknown_preset_lists_valid_names() -> None:
    with pytest.raises(UnknownPresetError) as error:
        get_preset("paper-unet++")
    assert "paper-unetpp_r50" in str(error.value) and "demo" in str(error.value)
    assert "demo" in list_presets()


def _changed(before: dict[str, torch.Tensor], model: torch.nn.Module) -> int:
    after = model.state_dict()
    return sum(not torch.equal(before[k], after[k]) for k in before
               if before[k].dtype.is_floating_point)


@pytest.mark.parametrize("recipe", PAPER_RECIPES, ids=lambda r: r.name)
def test_paper_preset_runs_one_step_on_cpu(recipe, tmp_path) -> None:
    small = tiny(recipe).replace(n_train=4, n_val=4, n_test=4)
    adapter = make_adapter(small, load_splits(small, DataSpec()))
    trainer = Trainer(small, adapter, tmp_path)
    before = {k: v.clone() for k, v in core(trainer.model).state_dict().items()}
    batch = next(iter(torch.utils.data.DataLoader(adapter.train_set, batch_size=4)))
    loss = trainer.step(batch)
    assert loss == loss and loss > 0  # finite, positive
    assert _changed(before, core(trainer.model)) > 0
