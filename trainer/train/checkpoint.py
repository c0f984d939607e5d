"""Resumable checkpoints: weights and optimizer tensors in safetensors, the rest in JSON.

A run folder holds ``checkpoint.safetensors`` (model, including any training-only heads),
``optimizer.safetensors`` (the optimizer's tensors, keyed ``<param>.<name>``) and
``checkpoint.json`` (epoch, best score, patience counter, loss history, scheduler and
optimizer scalars). ``best.safetensors`` holds the best weights of the exported model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_FILE = "checkpoint.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "checkpoint.json"
BEST_FILE = "best.safetensors"


def _split_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
                    ) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def _atomic_write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def save_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, scaler: Any, progress: Mapping[str, Any]) -> None:
    """Write the three checkpoint files; ``progress`` is JSON-ready (epoch, history, ...)."""
    from safetensors.torch import save_file, save_model

    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / MODEL_FILE))
    tensors, meta = _split_optimizer(optimizer.state_dict())
    save_file(tensors, str(folder / OPTIMIZER_FILE))
    body = {**progress, "optimizer": meta,
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "scaler": scaler.state_dict() if scaler is not None else None}
    _atomic_write(folder / STATE_FILE, json.dumps(body, indent=1, default=float))


def has_checkpoint(folder: Path) -> bool:
    return all((folder / f).is_file() for f in (MODEL_FILE, OPTIMIZER_FILE, STATE_FILE))


def load_checkpoint(folder: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, scaler: Any, device: torch.device) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and scaler in place; returns the progress JSON.

    Raises:
        FileNotFoundError: when the folder holds no complete checkpoint.
    """
    from safetensors.torch import load_file, load_model

    if not has_checkpoint(folder):
        raise FileNotFoundError(f"{folder}: no checkpoint to resume from "
                                f"(needs {MODEL_FILE}, {OPTIMIZER_FILE}, {STATE_FILE})")
    load_model(model, str(folder / MODEL_FILE), device=str(device))
    body = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    tensors = load_file(str(folder / OPTIMIZER_FILE), device=str(device))
    optimizer.load_state_dict(_join_optimizer(tensors, body.pop("optimizer")))
    scheduler_state, scaler_state = body.pop("scheduler"), body.pop("scaler")
    if scheduler is not None and scheduler_state is not None:
        scheduler.load_state_dict(scheduler_state)
    if scaler is not None and scaler_state is not None:
        scaler.load_state_dict(scaler_state)
    return body  # type: ignore[no-any-return]
