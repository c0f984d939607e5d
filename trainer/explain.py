"""Grad-CAM per IPP head, and the paper's Figure 5 grid (input + one overlay per label).

Works on any zoo IPP model: the target layer is found automatically as the last feature map
that the prediction depends on — a ``[B,C,h,w]`` stage output (ConvNeXt, CoAtNet) or, for
vision transformers, the last ``[B,N,C]`` token sequence whose patch tokens reshape to the
patch-embedding grid (prefix tokens such as CLS are dropped). Pass ``layer`` to override.
The functions return plain arrays and a matplotlib ``Figure``, so a dashboard can reuse them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeadCam:
    """One head's Grad-CAM: predicted class, its confidence and a [0, 1] map at input size."""

    head: str
    label: str
    confidence: float
    cam: np.ndarray


def _outputs(result: Any) -> tuple[torch.Tensor, ...]:
    return tuple(result) if isinstance(result, list | tuple) else (result,)


def _spatial(t: torch.Tensor) -> bool:
    return t.ndim == 4 and t.shape[2] > 1 and t.shape[3] > 1


def _token_prefix(t: torch.Tensor, grid: tuple[int, int]) -> int | None:
    """Number of prefix tokens when ``t`` is ``[B,N,C]`` tokens on ``grid``, else ``None``."""
    if t.ndim != 3:
        return None
    prefix = t.shape[1] - grid[0] * grid[1]
    return prefix if 0 <= prefix <= 8 else None


def _record(model: nn.Module, inputs: Sequence[torch.Tensor]
            ) -> tuple[list[tuple[str, torch.Tensor]], tuple[torch.Tensor, ...]]:
    seen: list[tuple[str, torch.Tensor]] = []
    names = {id(m): n for n, m in model.named_modules() if n}

    def hook(module: nn.Module, _args: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad and id(module) in names:
            seen.append((names[id(module)], output))

    handles = [m.register_forward_hook(hook) for n, m in model.named_modules() if n]
    try:
        with torch.enable_grad():
            outputs = _outputs(model(*inputs))
    finally:
        for handle in handles:
            handle.remove()
    return seen, outputs


def find_cam_layer(model: nn.Module, *inputs: torch.Tensor) -> str:
    """The name of the module whose output Grad-CAM should use (see the module docstring)."""
    seen, outputs = _record(model, inputs)
    spatial = [i for i, (_, t) in enumerate(seen) if _spatial(t)]
    if not spatial:
        raise ValueError("the model has no spatial feature map to explain")
    grid = tuple(seen[spatial[-1]][1].shape[2:])
    tokens = [i for i, (_, t) in enumerate(seen) if i > spatial[-1]
              and _token_prefix(t, grid) is not None]  # type: ignore[arg-type]
    candidates = spatial + tokens
    score = outputs[0][0].max()
    grads = torch.autograd.grad(score, [seen[i][1] for i in candidates], allow_unused=True)
    for i, grad in sorted(zip(candidates, grads, strict=True), reverse=True, key=lambda c: c[0]):
        tensor = seen[i][1]
        if grad is None:
            continue
        prefix = _token_prefix(tensor, grid) if tensor.ndim == 3 else 0  # type: ignore[arg-type]
        if float(grad[:, prefix or 0:].abs().sum()) > 0:
            return seen[i][0]
    raise ValueError("no feature map receives a gradient from the first head")


def _as_grid(t: torch.Tensor, grid: tuple[int, int] | None) -> torch.Tensor:
    """``[1,C,h,w]`` or ``[1,N,C]`` tokens -> ``[C,h,w]``."""
    if t.ndim == 4:
        return t[0]
    if grid is None:
        side = math.isqrt(t.shape[1])
        grid = (side, side)
    prefix = t.shape[1] - grid[0] * grid[1]
    return t[0, prefix:].reshape(grid[0], grid[1], -1).permute(2, 0, 1)


class GradCam:
    """Grad-CAM of every head of a multi-head classifier on one image.

    Args:
        model: ``forward(*inputs)`` returns one logits tensor or a tuple, one per head.
        layer: module name (``find_cam_layer`` is used when ``None``).
        grid: token grid (h, w) for transformer layers (default: a square from N).
    """

    def __init__(self, model: nn.Module, layer: str | None = None,
                 grid: tuple[int, int] | None = None) -> None:
        self.model, self.layer, self.grid = model, layer, grid

    def maps(self, *inputs: torch.Tensor,
             classes: Sequence[int] | None = None) -> tuple[list[np.ndarray], list[torch.Tensor]]:
        """One [0, 1] map per head at the input's size, and the heads' logits."""
        self.model.eval()
        layer = self.layer or find_cam_layer(self.model, *inputs)
        module = dict(self.model.named_modules())[layer]
        captured: list[torch.Tensor] = []
        handle = module.register_forward_hook(lambda _m, _a, out: captured.append(out))
        try:
            with torch.enable_grad():
                logits = _outputs(self.model(*inputs))
        finally:
            handle.remove()
        activation = captured[-1]
        size = inputs[0].shape[-2:]
        cams = []
        for k, head in enumerate(logits):
            target = int(head[0].argmax()) if classes is None else int(classes[k])
            (grad,) = torch.autograd.grad(head[0, target], activation, retain_graph=True)
            act, g = _as_grid(activation.detach(), self.grid), _as_grid(grad, self.grid)
            cam = F.relu((g.mean(dim=(1, 2))[:, None, None] * act).sum(0))
            cam = F.interpolate(cam[None, None], size=tuple(size), mode="bilinear",
                                align_corners=False)[0, 0]
            top = float(cam.max())
            cams.append((cam / top if top > 0 else cam).numpy().astype(np.float32))
        return cams, [t.detach() for t in logits]


def explain(model: nn.Module, inputs: Sequence[torch.Tensor], heads: Sequence[str],
            vocabularies: Mapping[str, Sequence[str]] | None = None,
            temperatures: Mapping[str, float] | None = None,
            layer: str | None = None) -> list[HeadCam]:
    """Grad-CAM of the predicted class of every head, with label names and confidences."""
    cams, logits = GradCam(model, layer).maps(*inputs)
    out = []
    for name, cam, head in zip(heads, cams, logits, strict=True):
        t = (temperatures or {}).get(name, 1.0)
        probs = torch.softmax(head[0].float() / t, dim=0)
        k = int(probs.argmax())
        classes = (vocabularies or {}).get(name)
        out.append(HeadCam(name, str(classes[k]) if classes else str(k), float(probs[k]), cam))
    return out


def grid_figure(image: np.ndarray, cams: Sequence[HeadCam], title: str = "") -> Any:
    """Figure 5 layout: the input on the left, one overlay per head in two rows on the right."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = max(1, math.ceil(len(cams) / 2))
    fig = Figure(figsize=(2.4 * (cols + 2), 5.2))
    FigureCanvasAgg(fig)
    spec = fig.add_gridspec(2, cols + 2)
    ax = fig.add_subplot(spec[:, :2])
    ax.imshow(image, cmap="gray")
    ax.set_title(title or "input")
    ax.axis("off")
    for k, item in enumerate(cams):
        ax = fig.add_subplot(spec[k // cols, 2 + k % cols])
        ax.imshow(image, cmap="gray")
        ax.imshow(item.cam, cmap="jet", alpha=0.45, vmin=0, vmax=1,
                  extent=(-0.5, image.shape[1] - 0.5, image.shape[0] - 0.5, -0.5))
        ax.set_title(f"{item.head.replace('_', ' ')}\n{item.label} ({item.confidence:.0%})",
                     fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def grid_png(image: np.ndarray, cams: Sequence[HeadCam], out: str | Path,
             title: str = "") -> Path:
    """Write :func:`grid_figure` to a PNG and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid_figure(image, cams, title).savefig(out, dpi=110)
    return out


def bundle_shape_input(pixels: np.ndarray, manifest: Any) -> torch.Tensor:
    """The z-normalised shape features of a frame (classical segmentation, as the app's
    fallback); zeros when the bundle has no shape statistics or no object is found."""
    from engines.classical import ClassicalSegmenter
    from engines.morphometry import SHAPE_FEATURES, shape_descriptors

    spec = manifest.input
    vector = np.zeros(len(SHAPE_FEATURES), np.float32)
    if spec.shape_mean is not None and spec.shape_std is not None:
        seg = ClassicalSegmenter().segment(pixels)
        shape = shape_descriptors(seg.mask, seg.scale) if seg.found else None
        if shape is not None:
            vector = ((shape.as_vector() - np.asarray(spec.shape_mean))
                      / np.asarray(spec.shape_std)).astype(np.float32)
    return torch.from_numpy(vector)[None]


def explain_bundle(image_path: str | Path, bundle_path: str | Path,
                   out: str | Path) -> list[HeadCam]:
    """Grad-CAM grid PNG of an IPP bundle on one image file (weights + zoo architecture).

    Raises:
        ValueError: the bundle is not an IPP engine or has no weights.
    """
    from safetensors.torch import load_file

    from engines.bundle import load_bundle
    from engines.preprocess import to_model_input
    from engines.zoo import create_model
    from trainer.data.records import read_image

    bundle = load_bundle(bundle_path)
    manifest = bundle.manifest
    if manifest.task != "ipp":
        raise ValueError(f"{bundle_path} is a {manifest.task} engine; Grad-CAM needs an IPP one")
    if not bundle.weights_path.is_file():
        raise ValueError(f"{bundle_path} has no weights.safetensors; re-export it from its run")
    # Grad-CAM reads the heads only: build the model without its embedding output.
    model = create_model(manifest.architecture, **{**manifest.model_kwargs, "embedding": False})
    model.load_state_dict(load_file(str(bundle.weights_path)))
    pixels = read_image(Path(image_path))
    spec = manifest.input
    image = torch.from_numpy(to_model_input(pixels, spec.size, spec.normalisation.mean,
                                            spec.normalisation.std, spec.channels))
    heads = [h.name for h in manifest.output.heads]
    cams = explain(model, (image, bundle_shape_input(pixels, manifest)), heads,
                   {h.name: h.labels for h in manifest.output.heads},
                   manifest.calibration.temperature)
    shown = to_model_input(pixels, spec.size)[0, 0]
    grid_png(shown, cams, out, title=Path(image_path).name)
    logger.info("Grad-CAM of %d heads written to %s", len(cams), out)
    return cams
