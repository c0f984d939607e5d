"""Engine bundles: a folder with ``manifest.json``, ``model.onnx``, weights and golden data.

The manifest (a pydantic model) says what the model is, how to feed it and how to read its
outputs; :func:`load_bundle` checks the sha256 of every file it lists before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
TASKS = ("segmentation", "ipp", "nextframe")
#: IPP outputs after the head logits (models exported with ``embedding=True``): the pooled
#: backbone features and the early stages' channel statistics.
EMBEDDING = "embedding"
OOD_FEATURES = "ood_features"
Task = Literal["segmentation", "ipp", "nextframe"]
#: What to run when a bundle is broken, by task.
REBUILD_HINT = (
    "rebuild it with 'sentinel train --preset demo' (or re-export it from its weights), "
    "then 'sentinel engines build' on a GPU PC"
)


class BundleError(ValueError):
    """A bundle that cannot be used; the message says which file and what to rebuild."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorSpec(_Spec):
    """One named model input or output; ``-1`` marks the dynamic batch axis."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


class Normalisation(_Spec):
    """Percentile normalisation to [0, 1], then ``(x - mean) / std``."""

    percentiles: tuple[float, float] = (0.5, 99.5)
    mean: float | tuple[float, ...] = 0.0  # scalar or one per channel
    std: float | tuple[float, ...] = 1.0


class InputSpec(_Spec):
    """How frames become model inputs: size (height, width), channels, normalisation.

    ``shape_mean``/``shape_std`` z-normalise the nine shape descriptors (IPP fusion models).
    """

    tensors: tuple[TensorSpec, ...]
    size: tuple[int, int]
    channels: int = 3
    dtype: str = "float32"
    normalisation: Normalisation = Normalisation()
    shape_mean: tuple[float, ...] | None = None
    shape_std: tuple[float, ...] | None = None


class HeadSpec(_Spec):
    """One IPP head: its label vocabulary in output order; ordinal labels are marked."""

    name: str
    labels: tuple[str, ...] = Field(min_length=1)
    ordinal: bool = False


class OutputSpec(_Spec):
    """Model outputs and how to read them, per task."""

    tensors: tuple[TensorSpec, ...]
    threshold: float | None = None  # segmentation: probability threshold
    heads: tuple[HeadSpec, ...] = ()  # ipp: in model output order
    context_frames: int | None = None  # nextframe
    meta_fields: tuple[str, ...] = ()  # nextframe: what the meta vector holds, in order


class Calibration(_Spec):
    """Per-head temperature and conformal thresholds keyed by error rate (``"0.01"``).

    ``mondrian`` holds, per head and class, the sorted calibration scores ``1 - p(class)``
    (after temperature) of calibration frames of that class: any error rate's threshold and
    any class's p-value follow from them (:mod:`engines.conformal`). ``conformal`` is the
    older fixed table, kept for readers that know only it.
    """

    temperature: dict[str, float] = {}
    conformal: dict[str, dict[str, float]] = {}
    mondrian: dict[str, dict[str, tuple[float, ...]]] = {}


class OODSpec(_Spec):
    """Out-of-distribution statistics of an IPP output (Lee et al. 2018).

    ``file`` (npz, hash-checked) holds ``center`` and ``scale`` [D] (standardisation),
    ``components`` [D, dims] (PCA), ``class_means`` [K, dims] and ``precision`` [dims, dims]
    (the inverse of the shared covariance) of the model output ``features``. The score of a
    frame is its smallest Mahalanobis distance to a class of ``head``; above ``threshold``
    (the ``quantile`` of held-out in-domain frames' scores, a conformal quantile over
    ``n_threshold`` frames) the frame is out of domain.
    """

    file: str = "ood.npz"
    features: str = OOD_FEATURES
    head: str
    classes: tuple[str, ...]
    dims: int
    threshold: float
    quantile: float
    n_fit: int
    n_threshold: int


class Golden(_Spec):
    """Reference inputs/outputs computed by the PyTorch model in eval mode.

    ``tolerances`` maps a runtime kind (``onnx``, ``torch``, ``torch_fp16``, ``tensorrt_fp16``,
    ``tensorrt_int8``) to ``{"atol": .., "rtol": ..}``.
    """

    inputs: str = "golden_inputs.npz"
    outputs: str = "golden_outputs.npz"
    tolerances: dict[str, dict[str, float]]


class Manifest(_Spec):
    """Everything a runtime and an engine need to know about one exported model."""

    schema_version: int = SCHEMA_VERSION
    task: Task
    architecture: str
    model_kwargs: dict[str, Any] = {}
    created_at: datetime
    trainer_version: str
    command: str
    input: InputSpec
    output: OutputSpec
    data: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    calibration: Calibration = Calibration()
    files: dict[str, str]
    golden: Golden
    ood: OODSpec | None = None
    integrity: str = ""

    def content_digest(self) -> str:
        """sha256 of every field but ``integrity``, canonical JSON: detects manifest edits.

        Fields added after schema 1 shipped are left out while they hold their defaults, so
        bundles sealed before them keep their digest.
        """
        body = self.model_dump(mode="json", exclude={"integrity"})
        if body.get("ood") is None:
            body.pop("ood", None)
        if not body["calibration"].get("mondrian"):
            body["calibration"].pop("mondrian", None)
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def sealed(self) -> Manifest:
        """A copy with ``integrity`` set to :meth:`content_digest`."""
        return self.model_copy(update={"integrity": self.content_digest()})


@dataclass(frozen=True)
class Bundle:
    """A verified bundle folder and its manifest."""

    path: Path
    manifest: Manifest

    @property
    def onnx_path(self) -> Path:
        return self.path / "model.onnx"

    @property
    def weights_path(self) -> Path:
        return self.path / "weights.safetensors"

    @property
    def digest(self) -> str:
        """sha256 over the manifest's file hashes: changes whenever any file changes."""
        text = json.dumps(sorted(self.manifest.files.items()))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def ood_path(self) -> Path | None:
        """The OOD statistics file, when the manifest has OOD statistics."""
        ood = self.manifest.ood
        return None if ood is None else self.path / ood.file

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.manifest.input.tensors)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.manifest.output.tensors)

    def golden(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The golden inputs and outputs, by tensor name."""
        return (_load_npz(self.path / self.manifest.golden.inputs),
                _load_npz(self.path / self.manifest.golden.outputs))

    def tolerance(self, kind: str) -> dict[str, float]:
        """``{"atol", "rtol"}`` for a runtime kind (falls back to ``onnx``'s)."""
        tolerances = self.manifest.golden.tolerances
        if kind in tolerances:
            return tolerances[kind]
        base = kind.split("_")[0]
        return tolerances.get(base, tolerances.get("onnx", {"atol": 1e-3, "rtol": 1e-3}))


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` (sealed with its integrity digest) into ``folder``."""
    path = Path(folder) / MANIFEST
    path.write_text(manifest.sealed().model_dump_json(indent=2), encoding="utf-8")
    return path


def read_manifest(folder: Path) -> Manifest:
    """Parse ``manifest.json`` (no hash checks; see :func:`load_bundle`)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{folder} is not an engine bundle: no {MANIFEST}; {REBUILD_HINT}")
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
        )
        raise BundleError(f"{path} is not a valid manifest ({problems}); {REBUILD_HINT}") from None


def load_bundle(path: str | Path) -> Bundle:
    """Open a bundle folder and verify the sha256 of every file the manifest lists.

    Raises:
        BundleError: no/invalid manifest, a newer schema, a missing or modified file.
    """
    folder = Path(path)
    manifest = read_manifest(folder)
    if manifest.schema_version > SCHEMA_VERSION:
        raise BundleError(f"{folder}: manifest schema {manifest.schema_version} is newer than "
                          f"this sentinel understands ({SCHEMA_VERSION}); update sentinel")
    if manifest.integrity != manifest.content_digest():
        raise BundleError(f"{folder}: {MANIFEST} was edited after export (its integrity digest "
                          f"does not match its content); {REBUILD_HINT}")
    required = {"model.onnx", manifest.golden.inputs, manifest.golden.outputs,
                *([manifest.ood.file] if manifest.ood is not None else [])}
    unlisted = sorted(required - set(manifest.files))
    if unlisted:
        raise BundleError(f"{folder}: manifest lists no hash for {unlisted}; {REBUILD_HINT}")
    for name, expected in manifest.files.items():
        file = folder / name
        if not file.is_file():
            raise BundleError(f"{folder}: {name} is missing; {REBUILD_HINT}")
        actual = sha256_file(file)
        if actual != expected:
            raise BundleError(
                f"{folder}: {name} was modified (sha256 {actual[:12]}... but the manifest "
                f"says {expected[:12]}...); {REBUILD_HINT}"
            )
    logger.debug("bundle %s (%s, %s) verified", folder, manifest.task, manifest.architecture)
    return Bundle(folder, manifest)


def default_bundle(task: str, root: Path | None = None) -> Path | None:
    """The installed default bundle of a task (``engines/bundles/<task>/``), if there is one."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {list(TASKS)}")
    base = root or Path(__file__).resolve().parent / "bundles"
    folder = base / task
    return folder if (folder / MANIFEST).is_file() else None
