"""Weights (safetensors) for zoo models.

``save_weights`` stores the model's ``zoo_cfg`` in the safetensors metadata, so a weights file
says which architecture and kwargs it belongs to (:func:`read_config`). This module imports
nothing else of the zoo, so the registry and the exporter can both use it without a cycle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

_CFG_KEY = "zoo_cfg"

__all__ = ["load_weights", "read_config", "save_weights"]


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Write the model's parameters and buffers (plus its ``zoo_cfg``) as safetensors."""
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = getattr(model, "zoo_cfg", None)
    metadata = {_CFG_KEY: json.dumps(cfg)} if cfg is not None else None
    save_model(model, str(path), metadata=metadata)
    return path


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> nn.Module:
    """Load a safetensors file into ``model`` (in place; strict by default).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        RuntimeError: when names or shapes do not match the architecture.
    """
    from safetensors.torch import load_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    load_model(model, str(path), strict=strict)
    return model


def read_config(path: str | Path) -> dict[str, Any] | None:
    """The ``zoo_cfg`` stored with a weights file, or None when it has none."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    return json.loads(metadata[_CFG_KEY]) if _CFG_KEY in metadata else None
