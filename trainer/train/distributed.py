"""DistributedDataParallel plumbing: one code path for a laptop and for ``torchrun``.

Run as usual and :func:`init_distributed` returns a single-process context; run under
``torchrun --nproc_per_node N`` (which sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``) and it
joins the process group (NCCL on GPUs, gloo on the CPU). Only rank 0 logs progress, writes
checkpoints and exports; every rank evaluates the same full validation set, so early
stopping and the scheduler decide the same way everywhere without extra messages.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)


def pick_device(preference: str = "auto") -> str:
    """``cuda`` when asked for or available (``auto``), else ``cpu``."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {preference!r}; valid: auto, cpu, cuda")
    if preference == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return preference


def init_distributed(preference: str = "auto") -> DistContext:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1``, else run alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    kind = pick_device(preference)
    if world <= 1:
        return DistContext(device=kind)
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = f"cuda:{local}" if kind == "cuda" else "cpu"
    if kind == "cuda":
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if kind == "cuda" else "gloo")
    logger.info("DDP rank %d/%d on %s (%s)", rank, world, device, dist.get_backend())
    return DistContext(rank, world, local, device)


def shutdown(context: DistContext) -> None:
    """Leave the process group (no-op when single-process)."""
    if context.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def wrap(model: nn.Module, context: DistContext) -> nn.Module:
    """The model on its device, wrapped in DDP when distributed."""
    model = model.to(context.torch_device)
    if not context.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [context.local_rank] if context.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def train_loader(dataset: Sized, batch_size: int, context: DistContext, seed: int,
                 workers: int = 0) -> DataLoader[Any]:
    """Shuffled batches; each rank gets its own shard (DistributedSampler) when distributed."""
    sampler: DistributedSampler[Any] | None = (
        DistributedSampler(dataset, context.world_size, context.rank, shuffle=True,  # type: ignore[arg-type]
                           seed=seed) if context.distributed else None)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=sampler is None,  # type: ignore[arg-type]
                      sampler=sampler, generator=generator, num_workers=workers,
                      drop_last=len(dataset) > batch_size * context.world_size,
                      pin_memory=context.device.startswith("cuda"))


def eval_loader(dataset: Sized, batch_size: int, workers: int = 0) -> DataLoader[Any]:
    """The whole dataset in order (every rank sees all of it)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)  # type: ignore[arg-type]


def set_epoch(loader: DataLoader[Any], epoch: int) -> None:
    """Reshuffle a distributed sampler for ``epoch``."""
    if isinstance(loader.sampler, DistributedSampler):
        loader.sampler.set_epoch(epoch)


def mean_over_ranks(value: float, context: DistContext) -> float:
    """The mean of ``value`` over all ranks (itself when single-process)."""
    if not context.distributed:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([value], dtype=torch.float64, device=context.torch_device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def barrier(context: DistContext) -> None:
    """Wait for every rank (no-op when single-process)."""
    if context.distributed:
        import torch.distributed as dist

        dist.barrier()
