"""Task adapters: what the generic training loop needs to know about each task.

An adapter builds the datasets and the model of a :class:`~trainer.train.recipes.Recipe`,
computes the training loss of a batch, and scores a validation loader (the recipe's monitor
metric and the loss). Segmentation, IPP (multi-head, optional shape features, teacher forcing,
domain-adversarial head) and next-frame forecasting are the three adapters.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from trainer.data.datasets import (
    CATEGORICAL_META,
    IPPDataset,
    ModelInput,
    NextFrameDataset,
    SegmentationDataset,
    build_vocabularies,
    encode_labels,
    fit_shape_stats,
)
from trainer.losses import DomainAdversarialHead, class_weights, get_loss, ssim
from trainer.metrics import classification_scores
from trainer.train.data import Splits, label_heads
from trainer.train.recipes import Recipe

ANALYSIS_SIDE = 256  # shape features at this analysis resolution (original-pixel units)
IMAGE_MEAN = IMAGE_STD = 0.5


class Memo(Dataset[Any]):
    """A dataset whose items are computed once (validation and test sets: no augmentation)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self._items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        if index not in self._items:
            self._items[index] = self.dataset[index]
        return self._items[index]


class TaskAdapter(ABC):
    """The shared part: recipe, splits, datasets and the loss function."""

    task = ""

    def __init__(self, recipe: Recipe, splits: Splits) -> None:
        self.recipe, self.splits = recipe, splits
        self.loss_fn = get_loss(recipe.loss)
        self.model_input = ModelInput((recipe.input_size,) * 2, IMAGE_MEAN, IMAGE_STD, 3)
        self.train_set: Any = None
        self.val_set: Any = None
        self.test_set: Any = None

    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.recipe.model_kwargs)

    def build_model(self) -> nn.Module:
        from engines.zoo import create_model

        return create_model(self.recipe.model, **self.model_kwargs())  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        """What the bundle manifest and ``config.json`` need beyond the recipe."""
        return {}

    @abstractmethod
    def inputs(self, batch: Any, device: torch.device) -> tuple[torch.Tensor | None, ...]:
        """The model's positional inputs of a batch."""

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any, device: torch.device,
             progress: float) -> torch.Tensor:
        """The training loss of a batch (``progress`` in [0, 1] drives the GRL schedule)."""

    @abstractmethod
    def validate(self, model: nn.Module, loader: Iterable[Any],
                 device: torch.device) -> dict[str, float]:
        """Validation metrics, among them ``loss`` and the recipe's monitor."""


class SegmentationAdapter(TaskAdapter):
    task = "segmentation"

    def __init__(self, recipe: Recipe, splits: Splits) -> None:
        super().__init__(recipe, splits)
        augment = None
        if recipe.augment != "none":
            from trainer.augment import segmentation_pipeline

            augment = segmentation_pipeline(seed=recipe.seed)
        self.train_set = SegmentationDataset(splits.train, self.model_input, augment)
        self.val_set = Memo(SegmentationDataset(splits.val, self.model_input))
        self.test_set = Memo(SegmentationDataset(splits.test, self.model_input))

    def inputs(self, batch: Any, device: torch.device) -> tuple[torch.Tensor | None, ...]:
        return (batch[0].to(device),)

    def loss(self, model: nn.Module, batch: Any, device: torch.device,
             progress: float) -> torch.Tensor:
        logits = model(batch[0].to(device))
        return self.loss_fn(logits, batch[1].to(device), **self.recipe.loss_kwargs)  # type: ignore[no-any-return]

    @torch.no_grad()
    def validate(self, model: nn.Module, loader: Iterable[Any],
                 device: torch.device) -> dict[str, float]:
        losses, dices = [], []
        for batch in loader:
            logits = model(batch[0].to(device)).float()
            target = batch[1].to(device)
            losses.append(float(self.loss_fn(logits, target, **self.recipe.loss_kwargs)))
            pred, truth = (logits > 0).flatten(1), target.bool().flatten(1)
            inter = (pred & truth).sum(1).float()
            total = (pred.sum(1) + truth.sum(1)).float()
            keep = total > 0
            dices += (2 * inter[keep] / total[keep]).tolist()
        return {"loss": float(np.mean(losses)), "dice": float(np.mean(dices)) if dices else 0.0}


class IPPAdapter(TaskAdapter):
    task = "ipp"

    def __init__(self, recipe: Recipe, splits: Splits) -> None:
        super().__init__(recipe, splits)
        from engines.zoo import model_info
        from trainer.augment import MorphologyAwareAugmenter

        self.info = model_info(recipe.model)
        self.vocabularies = build_vocabularies(splits.train)
        self.heads = label_heads(self.vocabularies, exclude=recipe.domain_adversarial)
        self.shape_stats = fit_shape_stats(splits.train, analysis_side=ANALYSIS_SIDE)
        augment = None if recipe.augment == "none" else MorphologyAwareAugmenter(
            "ipp", photometric=recipe.augment == "morphology", seed=recipe.seed)
        names = tuple(self.vocabularies)
        common: dict[str, Any] = {
            "vocabularies": self.vocabularies, "shape_stats": self.shape_stats,
            "heads": names, "model_input": self.model_input, "analysis_side": ANALYSIS_SIDE}
        self.dataset_heads = names
        self.train_set = IPPDataset(splits.train, augment=augment, **common)
        self.val_set = Memo(IPPDataset(splits.val, **common))
        self.test_set = Memo(IPPDataset(splits.test, **common))
        self.calib_set = (self.val_set if splits.calib is None
                          else Memo(IPPDataset(splits.calib, **common)))
        self.weights = self._class_weights() if recipe.class_weighted else {}
        self.domain_index = (names.index(recipe.domain_adversarial)
                             if recipe.domain_adversarial else None)

    def _class_weights(self) -> dict[str, torch.Tensor]:
        rows = np.stack([encode_labels(self.splits.train.labels(i), self.dataset_heads,
                                       self.vocabularies) for i in range(len(self.splits.train))])
        return {h: class_weights(rows[:, self.dataset_heads.index(h)], n)
                for h, n in self.heads.items()}

    def model_kwargs(self) -> dict[str, Any]:
        return {**self.recipe.model_kwargs, "heads": dict(self.heads)}

    def build_model(self) -> nn.Module:
        model = super().build_model()
        if self.domain_index is None:
            return model
        domains = len(self.vocabularies[self.dataset_heads[self.domain_index]])
        return AdversarialModel(model, domains)

    def head_columns(self, model: nn.Module) -> list[int]:
        """Dataset label columns in the model's head order (HMTT re-orders its heads)."""
        inner: Any = core(model)
        return [self.dataset_heads.index(h) for h in inner.head_names]

    def inputs(self, batch: Any, device: torch.device) -> tuple[torch.Tensor | None, ...]:
        image = batch["image"].to(device) if self.info.uses_image else None
        shape = batch["shape"].to(device) if self.info.uses_shape else None
        return image, shape

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor], device: torch.device,
             progress: float) -> torch.Tensor:
        from trainer.losses import grl_lambda

        labels = batch["labels"].to(device)
        columns = self.head_columns(model)
        inner: Any = core(model)
        kwargs: dict[str, Any] = {}
        if self.recipe.teacher_forcing:
            kwargs["targets"] = labels[:, columns].clamp_min(0)
        if isinstance(core_wrapper(model), AdversarialModel):
            kwargs["lambd"] = grl_lambda(progress)
        out = model(*self.inputs(batch, device), **kwargs)
        outputs, domain = (out if isinstance(core_wrapper(model), AdversarialModel)
                           else (out, None))
        total = torch.zeros((), device=device)
        for head, logits, column in zip(inner.head_names, outputs, columns, strict=True):
            total = total + self._head_loss(head, logits, labels[:, column])
        if domain is not None and self.domain_index is not None:
            total = total + nn.functional.cross_entropy(
                domain.float(), labels[:, self.domain_index], ignore_index=-100)
        return total

    def _head_loss(self, head: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.recipe.loss == "cross_entropy":
            return self.loss_fn(logits.float(), target, self.weights.get(head))  # type: ignore[no-any-return]
        return self.loss_fn(logits.float(), target, **self.recipe.loss_kwargs)  # type: ignore[no-any-return]

    @torch.no_grad()
    def collect(self, model: nn.Module, loader: Iterable[Any], device: torch.device
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Logits and labels per head over a loader (model head order)."""
        inner: Any = core(model)
        columns = self.head_columns(model)
        logits: dict[str, list[np.ndarray]] = {h: [] for h in inner.head_names}
        labels: dict[str, list[np.ndarray]] = {h: [] for h in inner.head_names}
        for batch in loader:
            outputs = inner(*self.inputs(batch, device))
            for h, out, c in zip(inner.head_names, outputs, columns, strict=True):
                logits[h].append(out.float().cpu().numpy())
                labels[h].append(batch["labels"][:, c].numpy())
        return ({h: np.concatenate(v) for h, v in logits.items()},
                {h: np.concatenate(v) for h, v in labels.items()})

    def validate(self, model: nn.Module, loader: Iterable[Any],
                 device: torch.device) -> dict[str, float]:
        logits, labels = self.collect(model, loader, device)
        f1s, losses = [], []
        for head, values in logits.items():
            keep = labels[head] != -100
            y, z = labels[head][keep], values[keep]
            if not len(y):
                continue
            f1s.append(classification_scores(y, z.argmax(1), z.shape[1])["f1"])
            losses.append(float(nn.functional.cross_entropy(torch.from_numpy(z),
                                                            torch.from_numpy(y))))
        return {"loss": float(np.sum(losses)), "f1": float(np.mean(f1s))}

    def describe(self) -> dict[str, Any]:
        return {"vocabularies": {h: list(v) for h, v in self.vocabularies.items()},
                "heads": dict(self.heads), "shape_mean": list(self.shape_stats.mean),
                "shape_std": list(self.shape_stats.std), "analysis_side": ANALYSIS_SIDE}


class NextFrameAdapter(TaskAdapter):
    task = "nextframe"

    def __init__(self, recipe: Recipe, splits: Splits) -> None:
        super().__init__(recipe, splits)
        from engines.zoo import model_info

        self.info = model_info(recipe.model)
        self.vocabularies = build_vocabularies(splits.train, heads=CATEGORICAL_META)
        size = recipe.input_size
        self.train_set = NextFrameDataset(splits.train, self.vocabularies, size)
        self.val_set = Memo(NextFrameDataset(splits.val, self.vocabularies, size))
        self.test_set = Memo(NextFrameDataset(splits.test, self.vocabularies, size))

    def model_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.recipe.model_kwargs)
        if self.info.uses_meta:  # one extra index per label for values not seen in training
            kwargs["categories"] = {k: len(self.vocabularies[k]) + 1 for k in CATEGORICAL_META}
        return kwargs

    def inputs(self, batch: Any, device: torch.device) -> tuple[torch.Tensor | None, ...]:
        frames = batch["frames"].to(device)
        return (frames, batch["meta"].to(device)) if self.info.uses_meta else (frames,)

    def loss(self, model: nn.Module, batch: Mapping[str, torch.Tensor], device: torch.device,
             progress: float) -> torch.Tensor:
        prediction = model(*self.inputs(batch, device)).float()
        return self.loss_fn(prediction, batch["target"].to(device))  # type: ignore[no-any-return]

    @torch.no_grad()
    def validate(self, model: nn.Module, loader: Iterable[Any],
                 device: torch.device) -> dict[str, float]:
        losses, scores = [], []
        for batch in loader:
            prediction = model(*self.inputs(batch, device)).float()
            target = batch["target"].to(device)
            losses.append(float(self.loss_fn(prediction, target)))
            scores += ssim(prediction.clamp(0, 1), target, reduction="none").tolist()
        return {"loss": float(np.mean(losses)), "ssim": float(np.mean(scores))}

    def describe(self) -> dict[str, Any]:
        return {"vocabularies": {h: list(v) for h, v in self.vocabularies.items()}}


class AdversarialModel(nn.Module):
    """An IPP model plus a gradient-reversal domain head on the features its heads read."""

    def __init__(self, model: Any, n_domains: int) -> None:
        super().__init__()
        self.model = model
        tap: nn.Module = model.norm if hasattr(model, "norm") else model.backbone
        self.features: torch.Tensor | None = None
        tap.register_forward_hook(self._keep)
        first = model.heads[0]
        width = first.in_features if hasattr(first, "in_features") else first[0].in_features
        self.domain = DomainAdversarialHead(width, n_domains)

    def _keep(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        self.features = output

    @property
    def head_names(self) -> tuple[str, ...]:
        return tuple(self.model.head_names)

    def forward(self, image: torch.Tensor | None, shape: torch.Tensor | None = None,
                lambd: float = 1.0, **kwargs: Any) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        outputs = self.model(image, shape, **kwargs)
        assert self.features is not None
        return outputs, self.domain(self.features, lambd)


def core_wrapper(model: nn.Module) -> nn.Module:
    """``model`` without a DistributedDataParallel wrapper."""
    return model.module if hasattr(model, "module") else model  # type: ignore[return-value]


def core(model: nn.Module) -> nn.Module:
    """The zoo model inside DDP and adversarial wrappers (what gets exported)."""
    inner = core_wrapper(model)
    return inner.model if isinstance(inner, AdversarialModel) else inner


ADAPTERS = {"segmentation": SegmentationAdapter, "ipp": IPPAdapter,
            "nextframe": NextFrameAdapter}


def make_adapter(recipe: Recipe, splits: Splits) -> TaskAdapter:
    """The adapter of the recipe's task."""
    return ADAPTERS[recipe.task](recipe, splits)  # type: ignore[no-any-return]
