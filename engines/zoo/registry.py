"""The model registry: architectures by name, timm-style.

Factories register with :func:`register_model`; :func:`create_model` builds one by name with
its registered defaults overlaid by keyword arguments, and attaches the configuration that
travels with the weights (``model.zoo_cfg``). This module itself does not import torch.
"""

from __future__ import annotations

import copy
import difflib
import fnmatch
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

TASKS = ("segmentation", "ipp", "nextframe")
TIERS = ("paper", "cpu", "test")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

F = TypeVar("F", bound=Callable[..., Any])


class UnknownModelError(KeyError):
    """An architecture name that is not registered; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]) -> None:
        close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        self.name = name
        self.valid = valid
        super().__init__(f"unknown model {name!r}.{hint} Valid names: {', '.join(valid)}")

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one architecture, without building it.

    Attributes:
        name: registered name.
        task: ``segmentation``, ``ipp`` or ``nextframe``.
        architecture: the family (``unetplusplus``, ``fusion_transformer``, ...).
        paper_section: the paper's hyperparameter section (``"B.1"``), None if not in it.
        tier: ``paper`` (the paper's size), ``cpu`` (CPU-sized) or ``test`` (toy size).
        input_size: (height, width) the model expects.
        in_chans: input channels (3 for images, 2 context frames for next-frame models).
        uses_image: takes the image/frames input (False only for the shape-only ablation).
        uses_shape: takes the 9 z-normalised shape descriptors as a second input.
        uses_meta: takes the next-frame metadata vector as a second input.
        teacher_forcing: training needs ``targets`` (hierarchical heads).
        default_cfg: the configuration that travels with the weights.
    """

    name: str
    task: str
    architecture: str
    paper_section: str | None
    tier: str
    input_size: tuple[int, int]
    in_chans: int
    uses_image: bool = True
    uses_shape: bool = False
    uses_meta: bool = False
    teacher_forcing: bool = False
    default_cfg: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def config(self, **overrides: Any) -> dict[str, Any]:
        """A plain (JSON-ready) copy of :attr:`default_cfg` with model kwargs overridden."""
        cfg = {key: value for key, value in self.default_cfg.items() if key != "model_kwargs"}
        cfg["model_kwargs"] = {**self.default_cfg["model_kwargs"], **overrides}
        return copy.deepcopy(cfg)


_FACTORIES: dict[str, Callable[..., Any]] = {}
_INFOS: dict[str, ModelInfo] = {}


def register_model(
    *,
    task: str,
    architecture: str,
    tier: str,
    input_size: tuple[int, int],
    paper_section: str | None = None,
    in_chans: int = 3,
    mean: tuple[float, ...] = IMAGENET_MEAN,
    std: tuple[float, ...] = IMAGENET_STD,
    uses_image: bool = True,
    uses_shape: bool = False,
    uses_meta: bool = False,
    teacher_forcing: bool = False,
    defaults: Mapping[str, Any] | None = None,
) -> Callable[[F], F]:
    """Register the decorated factory under its function name.

    Args:
        defaults: the model kwargs this name stands for; callers may override any of them.
        (the rest): see :class:`ModelInfo`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")

    def decorate(factory: F) -> F:
        name = factory.__name__
        if name in _FACTORIES:
            raise ValueError(f"model {name!r} is registered twice")
        cfg = {
            "name": name,
            "task": task,
            "architecture": architecture,
            "input_size": [in_chans, *input_size],
            "mean": list(mean),
            "std": list(std),
            "model_kwargs": copy.deepcopy(dict(defaults or {})),
        }
        _FACTORIES[name] = factory
        _INFOS[name] = ModelInfo(
            name=name,
            task=task,
            architecture=architecture,
            paper_section=paper_section,
            tier=tier,
            input_size=tuple(input_size),  # type: ignore[arg-type]
            in_chans=in_chans,
            uses_image=uses_image,
            uses_shape=uses_shape,
            uses_meta=uses_meta,
            teacher_forcing=teacher_forcing,
            default_cfg=MappingProxyType(cfg),
        )
        return factory

    return decorate


def list_models(pattern: str = "*", task: str | None = None, tier: str | None = None) -> list[str]:
    """Registered names matching a shell-style ``pattern``, optionally one task/tier, sorted."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if tier is not None and tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    return sorted(
        name
        for name, info in _INFOS.items()
        if fnmatch.fnmatchcase(name, pattern)
        and (task is None or info.task == task)
        and (tier is None or info.tier == tier)
    )


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a registered name.

    Raises:
        UnknownModelError: listing the valid names.
    """
    try:
        return _INFOS[name]
    except KeyError:
        raise UnknownModelError(name, sorted(_INFOS)) from None


def create_model(name: str, checkpoint_path: str | None = None, **kwargs: Any) -> Any:
    """Build a registered model (never downloads weights).

    Args:
        name: a name from :func:`list_models`.
        checkpoint_path: optional local ``.safetensors`` file to load (strictly).
        **kwargs: overrides of the registered model kwargs (e.g. ``heads=...``).

    Returns:
        The ``torch.nn.Module``, with ``zoo_cfg`` (the config to save with its weights).
    """
    info = model_info(name)
    cfg = info.config(**kwargs)
    model = _FACTORIES[name](**cfg["model_kwargs"])
    model.zoo_cfg = cfg
    if checkpoint_path is not None:
        from engines.zoo.weights import load_weights

        load_weights(model, checkpoint_path)
    logger.debug("created model %s with %s", name, cfg["model_kwargs"])
    return model
