"""Write an engine bundle from a PyTorch model (the trainer's last step).

Torch is imported lazily here: the edge app never needs this module at run time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from engines.bundle import (
    Bundle,
    Calibration,
    Golden,
    HeadSpec,
    InputSpec,
    Manifest,
    Normalisation,
    OODSpec,
    OutputSpec,
    TensorSpec,
    load_bundle,
    sha256_file,
    write_manifest,
)

logger = logging.getLogger(__name__)

TRAINER_VERSION = "0.1.0"
ONNX_OPSET = 20  # GELU fused; opset 18 ran CoAtNet-0 1.9x slower in ONNX Runtime
#: Golden-output tolerances per runtime kind and task (FP16 looser; logits can reach ~100).
DEFAULT_TOLERANCES: dict[str, dict[str, dict[str, float]]] = {
    "segmentation": {"onnx": {"atol": 2e-3, "rtol": 1e-3}, "torch": {"atol": 2e-3, "rtol": 1e-3},
                     "torch_fp16": {"atol": 0.15, "rtol": 0.03},
                     "tensorrt_fp16": {"atol": 0.15, "rtol": 0.03},
                     "tensorrt_int8": {"atol": 1.5, "rtol": 0.15}},
    "ipp": {"onnx": {"atol": 1e-3, "rtol": 1e-3}, "torch": {"atol": 1e-3, "rtol": 1e-3},
            "torch_fp16": {"atol": 0.08, "rtol": 0.03},
            "tensorrt_fp16": {"atol": 0.08, "rtol": 0.03},
            "tensorrt_int8": {"atol": 0.8, "rtol": 0.15}},
    "nextframe": {"onnx": {"atol": 1e-3, "rtol": 1e-3}, "torch": {"atol": 1e-3, "rtol": 1e-3},
                  "torch_fp16": {"atol": 0.02, "rtol": 0.02},
                  "tensorrt_fp16": {"atol": 0.02, "rtol": 0.02},
                  "tensorrt_int8": {"atol": 0.1, "rtol": 0.1}},
}


def export_onnx(model: Any, sample_inputs: Sequence[Any], path: Path,
                input_names: Sequence[str], output_names: Sequence[str]) -> None:
    """ONNX export with a dynamic batch axis: the zoo's exporter when present, else torch's."""
    try:
        from engines.zoo.io import export_onnx as zoo_export
    except ImportError:
        zoo_export = None
    if zoo_export is not None:
        try:
            zoo_export(model, tuple(sample_inputs), path, input_names=list(input_names),
                       output_names=list(output_names), dynamic_batch=True)
            return
        except Exception as exc:  # the export below is the same exporter without the wrapper
            logger.warning("zoo export_onnx failed (%s); exporting with torch.onnx directly",
                           str(exc).splitlines()[0][:200])
    import torch

    batch = torch.export.Dim("batch", min=1, max=1024)
    shapes = tuple({0: batch} for _ in sample_inputs)
    progress = io.StringIO()  # the exporter prints its progress; keep it for the debug log
    with warnings.catch_warnings(), contextlib.redirect_stdout(progress):
        warnings.simplefilter("ignore", UserWarning)  # notes on axis names and train mode
        torch.onnx.export(model, tuple(sample_inputs), str(path), input_names=list(input_names),
                          output_names=list(output_names), dynamic_shapes=shapes,
                          opset_version=ONNX_OPSET, dynamo=True, verbose=False,
                          external_data=False)
    logger.debug("torch.onnx.export: %s", progress.getvalue())
    from engines.zoo.io import strip_debug_metadata

    strip_debug_metadata(path)


def save_weights(model: Any, path: Path) -> None:
    """Weights as safetensors (the zoo's helper when present)."""
    try:
        from engines.zoo.weights import save_weights as zoo_save
    except ImportError:
        from safetensors.torch import save_model

        save_model(model, str(path))
    else:
        zoo_save(model, path)


def golden_outputs(model: Any, inputs: dict[str, np.ndarray],
                   output_names: Sequence[str]) -> dict[str, np.ndarray]:
    """The model's outputs in eval mode on CPU, FP32, by output name."""
    import torch

    model.eval()
    with torch.inference_mode():
        out = model(*(torch.from_numpy(np.ascontiguousarray(a)) for a in inputs.values()))
    outs = out if isinstance(out, tuple | list) else (out,)
    if len(outs) != len(output_names):
        raise ValueError(f"model returned {len(outs)} outputs, names given: {list(output_names)}")
    return {n: o.detach().float().cpu().numpy() for n, o in zip(output_names, outs, strict=True)}


def _tensor_specs(arrays: dict[str, np.ndarray]) -> tuple[TensorSpec, ...]:
    return tuple(TensorSpec(name=n, shape=(-1, *a.shape[1:]), dtype=str(a.dtype))
                 for n, a in arrays.items())


def export_bundle(
    model: Any,
    arch_name: str,
    task: str,
    out_dir: str | Path,
    *,
    sample_inputs: dict[str, np.ndarray],
    output_names: Sequence[str],
    size: tuple[int, int],
    channels: int = 3,
    normalisation: Normalisation | None = None,
    heads: Sequence[HeadSpec] = (),
    threshold: float | None = None,
    context_frames: int | None = None,
    meta_fields: Sequence[str] = (),
    shape_stats: tuple[Sequence[float], Sequence[float]] | None = None,
    calibration: Calibration | None = None,
    ood: tuple[OODSpec, dict[str, np.ndarray]] | None = None,
    metrics: dict[str, float] | None = None,
    data: dict[str, Any] | None = None,
    command: str = "",
    model_kwargs: dict[str, Any] | None = None,
    tolerances: dict[str, dict[str, float]] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Bundle:
    """Export ``model`` as a bundle in ``out_dir`` (replaced atomically) and verify it.

    Args:
        sample_inputs: named inputs in forward order (batch >= 2 recommended); they become
            the golden inputs.
        output_names: names of the model outputs in order (for IPP: ``model.head_names``,
            then ``embedding`` for a model built with ``embedding=True``).
        ood: the out-of-distribution statistics' manifest entry and arrays (IPP).
        shape_stats: (mean, std) of the nine shape descriptors for IPP fusion models.
        command: the exact training command, recorded for rebuilding.
    """
    if task not in DEFAULT_TOLERANCES:
        raise ValueError(f"unknown task {task!r}; valid: {sorted(DEFAULT_TOLERANCES)}")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        model.eval()
        goldens = golden_outputs(model, sample_inputs, output_names)
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in sample_inputs.values()]
        export_onnx(model, tensors, staging / "model.onnx", list(sample_inputs), output_names)
        save_weights(model, staging / "weights.safetensors")
        np.savez(staging / "golden_inputs.npz", **sample_inputs)
        np.savez(staging / "golden_outputs.npz", **goldens)
        if ood is not None:
            np.savez(staging / ood[0].file, **ood[1])
        mean, std = shape_stats if shape_stats is not None else (None, None)
        manifest = Manifest(
            task=task, architecture=arch_name, model_kwargs=model_kwargs or {},
            created_at=clock(), trainer_version=TRAINER_VERSION, command=command,
            input=InputSpec(tensors=_tensor_specs(sample_inputs), size=size, channels=channels,
                            normalisation=normalisation or Normalisation(),
                            shape_mean=None if mean is None else tuple(map(float, mean)),
                            shape_std=None if std is None else tuple(map(float, std))),
            output=OutputSpec(tensors=_tensor_specs(goldens), threshold=threshold,
                              heads=tuple(heads), context_frames=context_frames,
                              meta_fields=tuple(meta_fields)),
            data=data or {}, metrics=metrics or {}, calibration=calibration or Calibration(),
            files={p.name: sha256_file(p) for p in sorted(staging.iterdir())},
            golden=Golden(tolerances=tolerances or DEFAULT_TOLERANCES[task]),
            ood=None if ood is None else ood[0],
        )
        write_manifest(staging, manifest)
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the bundle from other accounts
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    logger.info("exported %s bundle %s (%s) to %s", task, arch_name, list(output_names), out)
    return load_bundle(out)


def export_untrained(name: str, out_dir: str | Path, *, seed: int = 0) -> Bundle:
    """A zoo model with random weights as a bundle (for timing and tests, never for use)."""
    import torch

    from engines.zoo.io import example_inputs, io_names
    from engines.zoo.registry import create_model, model_info

    torch.manual_seed(seed)
    info = model_info(name)
    extra: dict[str, Any] = {"embedding": True} if info.task == "ipp" else {}  # + embedding
    model = create_model(name, None, **extra).eval()
    input_names, names = io_names(model)
    present = [t for t in example_inputs(model, batch=2, seed=seed) if t is not None]
    inputs = {n: t.numpy() for n, t in zip(input_names, present, strict=True)}
    heads: list[HeadSpec] = []
    if info.task == "ipp":
        outs = golden_outputs(model, inputs, names)
        heads = [HeadSpec(name=h, labels=tuple(f"class{i}" for i in range(o.shape[-1])))
                 for h, o in outs.items() if h in model.head_names]
    cfg = dict(info.default_cfg)
    norm = Normalisation(mean=tuple(cfg.get("mean", (0.0,))), std=tuple(cfg.get("std", (1.0,))))
    return export_bundle(
        model, name, info.task, out_dir, sample_inputs=inputs, output_names=names,
        size=tuple(info.input_size), channels=info.in_chans if info.task != "nextframe" else 1,
        normalisation=norm, heads=heads, threshold=0.5 if info.task == "segmentation" else None,
        context_frames=info.in_chans if info.task == "nextframe" else None,
        shape_stats=([0.0] * 9, [1.0] * 9) if info.uses_shape else None,
        command=f"engines.export.export_untrained({name!r}) (random weights)",
        data={"untrained": True}, model_kwargs=extra,
    )
