"""Training recipes by name: ``paper-<model>`` (Appendix B) and ``demo`` (CPU-sized defaults).

A *preset* is a tuple of :class:`Recipe` (one per model it trains): every ``paper-*`` preset
holds one recipe, ``demo`` holds the three default engines (segmentation, IPP with shape
features, next frame). :func:`tiny` turns any recipe into a toy-size run on the zoo's
``test_*`` architecture, so tests run the production path on a CPU in seconds.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

TASKS = ("segmentation", "ipp", "nextframe")
OPTIMISERS = ("adam", "adamw")
AUGMENTATIONS = ("none", "segmentation", "ipp", "morphology")
DOMAINS = ("microscope", "technical_rep")


class UnknownPresetError(KeyError):
    """A preset name that is not registered; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Plateau:
    """``ReduceLROnPlateau`` settings; ``mode="max"`` watches the recipe's monitor metric."""

    mode: str = "max"
    patience: int = 5
    factor: float = 0.1  # torch's default, where the paper names no factor


@dataclass(frozen=True)
class Recipe:
    """Everything one training run needs besides the data.

    Attributes:
        name: the preset entry's name (``paper-unetpp_r50``, ``demo-ipp``).
        task: ``segmentation``, ``ipp`` or ``nextframe``.
        model: zoo architecture name; ``model_kwargs`` override its registered defaults.
        display: the model's name in the paper's tables.
        variant: the Table 7 ablation (``full``, ``image-only``, ...) or ``None``.
        loss: a :func:`trainer.losses.get_loss` name; ``loss_kwargs`` its keyword arguments.
        class_weighted: IPP cross-entropy weighted by inverse class frequency.
        optimiser, lr, weight_decay: ``adam`` or ``adamw`` and its settings.
        scheduler: ReduceLROnPlateau settings, or ``None`` (no schedule).
        monitor: validation metric for the scheduler, early stopping and the best weights
            (``dice``, ``f1``, ``ssim`` to maximise; ``loss`` to minimise).
        epochs, early_stopping: epoch budget and patience (epochs without improvement).
        batch_size, input_size: batch and the square model input side.
        amp: mixed precision when training on CUDA (never on the CPU).
        augment: ``none``, ``segmentation``, ``ipp`` or ``morphology`` (shape-aware IPP).
        domain_adversarial: label the backbone is made invariant to (gradient reversal).
        teacher_forcing: feed the true earlier labels to hierarchical heads (HMTT).
        n_train, n_val, n_test: synthetic-atlas sizes; ``atlas_width`` its frame width.
        n_calib: IPP calibration split (atlas), disjoint from validation so model selection
            does not bias the conformal thresholds; 0 calibrates on the validation split.
        seed: training seed; the held-out test set uses ``seed + 1``.
    """

    name: str
    task: str
    model: str
    display: str
    loss: str
    lr: float
    optimiser: str = "adam"
    weight_decay: float = 0.0
    scheduler: Plateau | None = Plateau()
    monitor: str = "loss"
    epochs: int = 200
    early_stopping: int = 40
    batch_size: int = 8
    input_size: int = 256
    amp: bool = False
    augment: str = "none"
    variant: str | None = None
    loss_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}),
                                           hash=False)
    model_kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}),
                                            hash=False)
    class_weighted: bool = False
    domain_adversarial: str | None = None
    teacher_forcing: bool = False
    n_train: int = 2000
    n_val: int = 300
    n_test: int = 500
    n_calib: int = 0
    atlas_width: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (("task", self.task, TASKS), ("optimiser", self.optimiser, OPTIMISERS),
                  ("augment", self.augment, AUGMENTATIONS))
        for what, value, valid in checks:
            if value not in valid:
                raise ValueError(f"{self.name}: unknown {what} {value!r}; valid: {valid}")
        if self.domain_adversarial not in (None, *DOMAINS):
            raise ValueError(f"{self.name}: domain_adversarial must be one of {DOMAINS}")

    @property
    def maximise(self) -> bool:
        return self.monitor != "loss"

    def replace(self, **changes: Any) -> Recipe:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (the run folder's ``config.json``)."""
        body = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        body["loss_kwargs"] = dict(self.loss_kwargs)
        body["model_kwargs"] = dict(self.model_kwargs)
        body["scheduler"] = None if self.scheduler is None else dataclasses.asdict(self.scheduler)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Recipe:
        values = dict(body)
        if values.get("scheduler") is not None:
            values["scheduler"] = Plateau(**values["scheduler"])
        return cls(**values)


_FT = {"alpha": 0.7, "beta": 0.3, "gamma": 0.75}


def _seg(model: str, display: str, loss: str, lr: float, **kw: Any) -> Recipe:
    defaults: dict[str, Any] = {"monitor": "dice", "augment": "segmentation",
                                "scheduler": Plateau("max", 5, 0.5)}
    return Recipe(f"paper-{model}", "segmentation", model, display, loss, lr,
                  **{**defaults, **kw})


def _ipp(model: str, display: str, **kw: Any) -> Recipe:
    defaults: dict[str, Any] = {"loss": "cross_entropy", "lr": 1e-4, "monitor": "f1",
                                "batch_size": 32, "input_size": 224, "augment": "ipp",
                                "scheduler": Plateau("max", 5, 0.5)}
    return Recipe(f"paper-{model}", "ipp", model, display, **{**defaults, **kw})


def _frames(model: str, display: str, **kw: Any) -> Recipe:
    defaults: dict[str, Any] = {"loss": "l1", "lr": 1e-4, "monitor": "ssim",
                                "batch_size": 8, "input_size": 128, "scheduler": None,
                                "atlas_width": 128}
    return Recipe(f"paper-{model}", "nextframe", model, display, **{**defaults, **kw})


_FUSION = {"optimiser": "adamw", "weight_decay": 1e-2, "class_weighted": True,
           "scheduler": Plateau("max", 5)}
_ABLATIONS = {"fusion_image_only": "image-only", "fusion_shape_only": "shape-only",
              "fusion_no_fusion": "no-fusion", "fusion_no_transformer": "no-transformer"}

PAPER_RECIPES: tuple[Recipe, ...] = (
    _seg("unetpp_r50", "U-Net++", "focal_tversky", 1e-4, loss_kwargs=_FT),
    _seg("deeplabv3_r34", "DeepLabV3", "bce_dice", 3e-4, optimiser="adamw",
         weight_decay=1e-4),
    _seg("attention_unet", "Attention U-Net", "bce_dice", 3e-4, optimiser="adamw"),
    _seg("swin_unet", "Swin-UNet", "bce", 1e-4, input_size=224, amp=True, monitor="loss",
         scheduler=Plateau("min", 5, 0.5)),
    _seg("transunet", "TransUNet", "bce", 1e-4, input_size=224, amp=True, monitor="loss",
         scheduler=Plateau("min", 5, 0.5)),
    _seg("deeplabv3plus_r50", "DeepLabV3+", "focal_tversky", 1e-4, loss_kwargs=_FT, amp=True),
    _seg("refinenet_r34", "RefineNet", "focal_tversky", 1e-4, loss_kwargs=_FT),
    _seg("segnet", "SegNet", "focal_tversky", 1e-4, loss_kwargs=_FT, amp=True),
    _ipp("convnext_tiny_ipp", "ConvNeXt", scheduler=Plateau("max", 5)),
    _ipp("vit_b16_ipp", "ViT"),
    _ipp("coatnet0_ipp", "CoAtNet"),
    _ipp("fusion_transformer", "ImageShapeFusionTransformer", variant="full",
         augment="morphology", **_FUSION),
    *(_ipp(name, f"Fusion ({variant})", variant=variant,
           augment="ipp" if variant == "image-only" else "morphology", **_FUSION)
      for name, variant in _ABLATIONS.items()),
    _ipp("hmtt", "HMTT", teacher_forcing=True, amp=True, **_FUSION),
    _frames("convlstm", "ConvLSTM"),
    _frames("predrnnpp", "PredRNN++"),
    _frames("mmfusionnet", "MMFusionNet", loss="mse_ssim", optimiser="adamw",
            scheduler=Plateau("max", 10, 0.5)),
    _frames("phydnet", "PhyDNet", amp=True, scheduler=Plateau("max", 8, 0.5)),
)

#: The default engines: CPU-sized, trained on the synthetic atlas in minutes on 2 cores.
DEMO_RECIPES: tuple[Recipe, ...] = (
    Recipe("demo-segmentation", "segmentation", "unet_mobilenetv2_cpu", "U-Net (MnasNet-S)",
           "bce_dice", 2e-3, optimiser="adamw", weight_decay=1e-4, monitor="dice",
           scheduler=Plateau("max", 1, 0.5), epochs=6, early_stopping=3, batch_size=16,
           input_size=128, augment="segmentation", n_train=600, n_val=100, n_test=300,
           atlas_width=256, model_kwargs={"encoder_name": "tu-mnasnet_small",
                                          "decoder_channels": [64, 32, 16, 16, 8]}),
    Recipe("demo-ipp", "ipp", "fusion_cpu", "Fusion (CPU)", "cross_entropy", 2e-3,
           optimiser="adamw", weight_decay=1e-2, class_weighted=True, monitor="f1",
           scheduler=Plateau("max", 1, 0.5), epochs=12, early_stopping=4, batch_size=32,
           input_size=128, augment="ipp", variant="full", n_train=2000, n_val=500,
           n_test=1000, n_calib=1000, atlas_width=512,
           model_kwargs={"backbone": "mnasnet_small", "d_model": 128, "n_layers": 2,
                         "ff_dim": 256}),
    Recipe("demo-nextframe", "nextframe", "filmunet_cpu", "FiLM U-Net (CPU)", "l1", 2e-3,
           optimiser="adamw", monitor="ssim", scheduler=Plateau("max", 1, 0.5), epochs=8,
           early_stopping=3, batch_size=16, input_size=64, n_train=1000, n_val=150,
           n_test=300, atlas_width=64),
)

#: The demo IPP recipe with four times the data and a longer budget (under 1 h on 2 CPU
#: cores: ~90 s an epoch): same architecture and input size, so the per-frame cost of the
#: shipped engine is unchanged.
IPP_LONG = replace(DEMO_RECIPES[1], name="demo-ipp-long", epochs=30, early_stopping=6,
                   n_train=8000)

PRESETS: dict[str, tuple[Recipe, ...]] = {r.name: (r,) for r in PAPER_RECIPES}
PRESETS["demo"] = DEMO_RECIPES
PRESETS.update({r.name: (r,) for r in DEMO_RECIPES})
PRESETS[IPP_LONG.name] = (IPP_LONG,)


def list_presets() -> list[str]:
    """Every preset name, sorted."""
    return sorted(PRESETS)


def get_preset(name: str) -> tuple[Recipe, ...]:
    """The recipes of a preset.

    Raises:
        UnknownPresetError: listing the valid names.
    """
    if name not in PRESETS:
        close = difflib.get_close_matches(name, list(PRESETS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownPresetError(
            f"unknown preset {name!r}.{hint} Valid presets: {', '.join(list_presets())}")
    return PRESETS[name]


def tiny_model(name: str) -> str:
    """The zoo's ``test_*`` architecture standing in for ``name``: same task, family and
    fusion mode (a full fusion model is not stood in for by an image-only ablation)."""
    from engines.zoo import list_models, model_info

    if name.startswith("test_"):
        return name
    if f"test_{name}" in list_models():
        return f"test_{name}"
    info = model_info(name)
    mode = info.default_cfg.get("model_kwargs", {}).get("mode")
    same = [n for n in list_models(task=info.task, tier="test")
            if model_info(n).architecture == info.architecture
            and model_info(n).default_cfg.get("model_kwargs", {}).get("mode") == mode]
    if not same:
        raise ValueError(f"no test_* architecture of family {info.architecture!r} for {name}")
    return same[0]


def tiny(recipe: Recipe, epochs: int = 3) -> Recipe:
    """The recipe on its toy ``test_*`` architecture at toy size (a few CPU seconds)."""
    from engines.zoo import model_info

    model = tiny_model(recipe.model)
    side = model_info(model).input_size[0]
    return recipe.replace(
        name=f"{recipe.name}-tiny", model=model, model_kwargs={}, input_size=side,
        epochs=epochs, early_stopping=epochs, batch_size=4, n_train=16, n_val=8, n_test=8,
        n_calib=8 if recipe.n_calib else 0,
        atlas_width=max(64, side), amp=False)
