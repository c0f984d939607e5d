"""Training: recipes by name, the loop, DDP, held-out evaluation, export to bundles.

Entry points: ``sentinel train --preset demo`` (:func:`trainer.cli.train`) and
``python -m trainer.train`` (the same command, e.g. under ``torchrun``). Torch is imported by
the submodules that need it, not here.
"""

from trainer.train.recipes import (
    PRESETS,
    Recipe,
    UnknownPresetError,
    get_preset,
    list_presets,
    tiny,
)

__all__ = ["PRESETS", "Recipe", "UnknownPresetError", "get_preset", "list_presets", "tiny"]
