"""The training loop: resumable checkpoints, early stopping, config, adversarial training."""

from __future__ import annotations

import json

import pytest
import torch

from trainer.train.adapters import AdversarialModel, make_adapter
from trainer.train.checkpoint import load_checkpoint
from trainer.train.data import DataSpec, load_splits
from trainer.train.loop import Trainer
from trainer.train.recipes import get_preset, tiny


def _tiny(name: str, **changes):
    (recipe,) = get_preset(name)
    return tiny(recipe).replace(**changes)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.5
        return self.now


def test_resume_continues_the_epoch_count(tmp_path) -> None:
    recipe = _tiny("demo-segmentation", epochs=2, early_stopping=5)
    splits = load_splits(recipe, DataSpec())
    first = Trainer(recipe, make_adapter(recipe, splits), tmp_path).fit()
    assert [r.epoch for r in first.history] == [0, 1]
    longer = recipe.replace(epochs=3)
    resumed = Trainer(longer, make_adapter(longer, splits), tmp_path).fit(resume=True)
    assert [r.epoch for r in resumed.history] == [0, 1, 2]
    assert resumed.losses[:2] == first.losses  # the first two epochs are not re-run
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert len(state["history"]) == 3
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["recipe"]["epochs"] == 3 and config["recipe"]["model"] == recipe.model


def test_checkpoint_restores_optimizer_state(tmp_path) -> None:
    recipe = _tiny("demo-nextframe", epochs=1)
    adapter = make_adapter(recipe, load_splits(recipe, DataSpec()))
    trainer = Trainer(recipe, adapter, tmp_path)
    trainer.fit()
    fresh = Trainer(recipe, adapter, tmp_path / "other")
    progress = load_checkpoint(tmp_path, fresh.model, fresh.optimizer, fresh.scheduler, None,
                               torch.device("cpu"))
    assert progress["best_epoch"] == 0
    for a, b in zip(trainer.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)
    old, new = trainer.optimizer.state_dict(), fresh.optimizer.state_dict()
    for index, values in old["state"].items():
        assert torch.equal(values["exp_avg"], new["state"][index]["exp_avg"])


def test_early_stopping_and_injected_clock(tmp_path) -> None:
    recipe = _tiny("demo-segmentation", epochs=5, early_stopping=1, lr=0.0)
    adapter = make_adapter(recipe, load_splits(recipe, DataSpec()))
    result = Trainer(recipe, adapter, tmp_path, clock=FakeClock()).fit()
    assert result.stopped_early and len(result.history) == 2  # no improvement at lr 0
    assert all(r.seconds == pytest.approx(1.5) for r in result.history)


def test_domain_adversarial_head_trains_against_the_microscope(tmp_path) -> None:
    recipe = _tiny("paper-fusion_transformer", domain_adversarial="microscope")
    adapter = make_adapter(recipe, load_splits(recipe, DataSpec()))
    assert "microscope" not in adapter.heads
    trainer = Trainer(recipe, adapter, tmp_path)
    assert isinstance(trainer.model, AdversarialModel)
    before = [p.clone() for p in trainer.model.domain.parameters()]
    batch = next(iter(torch.utils.data.DataLoader(adapter.train_set, batch_size=4)))
    assert trainer.step(batch, progress=0.5) > 0
    after = list(trainer.model.domain.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
