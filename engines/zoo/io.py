"""ONNX export for zoo models (weights I/O is in :mod:`engines.zoo.weights`)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engines.zoo.blocks import EMBEDDING_OUTPUT, OOD_OUTPUT
from engines.zoo.registry import model_info

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 20
EXPORTERS = ("dynamo", "torchscript")
_MAX_BATCH = 4096


def zoo_config(model: nn.Module) -> dict[str, Any]:
    """The ``zoo_cfg`` that :func:`create_model` attached to ``model``.

    Raises:
        ValueError: for a model not built by ``create_model``.
    """
    cfg = getattr(model, "zoo_cfg", None)
    if not isinstance(cfg, dict):
        raise ValueError(f"{type(model).__name__} was not built by engines.zoo.create_model")
    return cfg


def example_inputs(
    model: nn.Module, batch: int = 1, seed: int = 0
) -> tuple[torch.Tensor | None, ...]:
    """Random positional inputs for a zoo model (None where an input is unused).

    Segmentation: ``(image,)``; IPP: ``(image, shape)`` (``None`` for an unused one);
    next frame: ``(frames,)`` or ``(frames, meta)`` for models that read metadata.
    """
    info = model_info(zoo_config(model)["name"])
    generator = torch.Generator().manual_seed(seed)
    height, width = info.input_size
    image = torch.randn(batch, info.in_chans, height, width, generator=generator)
    if info.task == "segmentation":
        return (image,)
    if info.task == "ipp":
        shape = torch.randn(batch, 9, generator=generator) if info.uses_shape else None
        return (image if info.uses_image else None, shape)
    frames = torch.rand(batch, info.in_chans, height, width, generator=generator)
    if not info.uses_meta:
        return (frames,)
    sizes = list(zoo_config(model)["model_kwargs"]["categories"].values())
    indices = [torch.randint(0, n, (batch, 1), generator=generator).float() for n in sizes]
    continuous = torch.rand(batch, 2, generator=generator) * torch.tensor([4.0, 3.0])
    return (frames, torch.cat([*indices, continuous], dim=1))


def io_names(model: nn.Module) -> tuple[list[str], list[str]]:
    """ONNX input names (only inputs the model uses) and output names for a zoo model
    (IPP: the head names, then ``embedding`` and ``ood_features`` for a model built with
    ``embedding=True``)."""
    info = model_info(zoo_config(model)["name"])
    if info.task == "segmentation":
        return ["image"], ["logits"]
    if info.task == "ipp":
        inputs = [n for n, used in (("image", info.uses_image), ("shape", info.uses_shape)) if used]
        extra = [EMBEDDING_OUTPUT, OOD_OUTPUT] if getattr(model, "embedding", False) else []
        return inputs, [*getattr(model, "head_names", ()), *extra]
    return (["frames", "meta"] if info.uses_meta else ["frames"]), ["next_frame"]


class _PresentInputs(nn.Module):
    """Call ``model`` with ``None`` in the slots where the template had ``None``."""

    def __init__(self, model: nn.Module, template: Sequence[torch.Tensor | None]) -> None:
        super().__init__()
        self.model = model
        self.present = tuple(x is not None for x in template)

    def forward(self, *tensors: torch.Tensor) -> Any:
        supplied = iter(tensors)
        return self.model(*(next(supplied) if p else None for p in self.present))


def export_onnx(
    model: nn.Module,
    sample_inputs: tuple[torch.Tensor | None, ...],
    path: str | Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool = True,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
) -> Path:
    """Export ``model`` (in eval mode) to ONNX and check the file.

    Args:
        sample_inputs: positional forward inputs; ``None`` entries are left out of the graph.
        input_names: one per non-None input.
        output_names: one per output (IPP: the head names).
        dynamic_batch: make axis 0 of every input and output dynamic.
        opset: ONNX opset (20 keeps GELU fused; the TorchScript exporter stops at 17-18).
        exporter: ``dynamo`` (torch.export-based, default) or ``torchscript`` (legacy).
    """
    import onnx

    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; valid: {', '.join(EXPORTERS)}")
    tensors = tuple(x for x in sample_inputs if x is not None)
    if len(input_names) != len(tensors):
        raise ValueError(f"{len(tensors)} inputs but input_names={list(input_names)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _PresentInputs(model, sample_inputs)
    was_training = model.training
    wrapped.eval()
    try:
        # Grad stays enabled: under no_grad nn.TransformerEncoder takes a fused fast path
        # that the TorchScript exporter cannot translate.
        if exporter == "dynamo":
            _export_dynamo(wrapped, tensors, path, input_names, output_names, dynamic_batch, opset)
        else:
            _export_torchscript(
                wrapped, tensors, path, input_names, output_names, dynamic_batch, opset
            )
    finally:
        model.train(was_training)
    strip_debug_metadata(path)
    onnx.checker.check_model(str(path))
    logger.info("exported %s to %s (opset %d, %s)", type(model).__name__, path, opset, exporter)
    return path


def strip_debug_metadata(path: str | Path) -> Path:
    """Drop the exporter's per-node debug metadata (Python stack traces with this machine's
    file paths, module names) from an ONNX file, in place. The graph is unchanged."""
    import onnx

    def clean(graph: Any) -> None:
        for node in graph.node:
            del node.metadata_props[:]
            for attr in node.attribute:
                if attr.HasField("g"):
                    clean(attr.g)
                for sub in attr.graphs:
                    clean(sub)

    model = onnx.load(str(path))
    clean(model.graph)
    for function in model.functions:
        clean(function)
    onnx.save(model, str(path))
    return Path(path)


def _export_dynamo(
    model: nn.Module,
    tensors: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool,
    opset: int,
) -> None:
    dynamic_shapes = None
    if dynamic_batch:
        # torch.export specialises a size-1 axis, so trace at batch 2 at least.
        tensors = tuple(torch.cat([x, x]) if x.shape[0] == 1 else x for x in tensors)
        batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
        # One entry: the wrapper's ``*tensors`` parameter.
        dynamic_shapes = (tuple({0: batch} for _ in tensors),)
    with warnings.catch_warnings():
        # Several inputs share the one batch Dim; the exporter notes it once per extra axis.
        warnings.filterwarnings(
            "ignore", message=r".*axis name: \S+ will not be used", category=UserWarning
        )
        torch.onnx.export(
            model,
            tensors,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            opset_version=opset,
            dynamo=True,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
        )


def _export_torchscript(
    model: nn.Module,
    tensors: tuple[torch.Tensor, ...],
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_batch: bool,
    opset: int,
) -> None:
    axes = None
    if dynamic_batch:
        axes = {name: {0: "batch"} for name in [*input_names, *output_names]}
    with warnings.catch_warnings():
        # The legacy exporter announces its own deprecation; choosing it is deliberate here.
        warnings.simplefilter("ignore", DeprecationWarning)
        # Tracing notes every Python-side shape check it freezes into the graph.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            model,
            tensors,
            str(path),
            input_names=list(input_names),
            output_names=list(output_names),
            opset_version=opset,
            dynamo=False,
            dynamic_axes=axes,
        )
