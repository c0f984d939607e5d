"""The ``Runtime`` seam, its errors, and the parity check against a bundle's golden outputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from engines.bundle import Bundle

logger = logging.getLogger(__name__)


class RuntimeUnavailable(RuntimeError):
    """This runtime cannot run here (library or device missing); the message says why."""


class ParityError(RuntimeError):
    """A runtime's outputs disagree with the bundle's golden outputs beyond tolerance."""


@runtime_checkable
class Runtime(Protocol):
    """Runs one model. Inputs and outputs are named float arrays with a batch axis of 1..N.

    Lifecycle: ``load()`` once, ``warmup()``, any number of ``infer()``, ``close()``.
    ``kind`` names the runtime and precision (``onnx``, ``torch``, ``torch_fp16``,
    ``tensorrt_fp16``, ...) and picks the parity tolerance.
    """

    kind: str
    device: str

    def load(self) -> None: ...

    def warmup(self) -> None: ...

    def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class ParityReport:
    """Largest golden-output disagreement of one runtime.

    Attributes:
        max_abs: largest absolute difference over every output.
        ratio: largest ``|a - b| / (atol + rtol * |b|)``; parity holds when it is <= 1.
        worst: the output name where ``ratio`` peaked.
    """

    kind: str
    max_abs: float
    ratio: float
    worst: str
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0

    def describe(self) -> str:
        return (f"{self.kind}: max |error| {self.max_abs:.3g} on {self.worst!r} "
                f"({self.ratio:.2f}x the tolerance atol={self.atol:g}, rtol={self.rtol:g})")


def measure_parity(runtime: Runtime, bundle: Bundle) -> ParityReport:
    """Run the golden inputs through ``runtime`` and compare with the golden outputs."""
    inputs, expected = bundle.golden()
    tol = bundle.tolerance(runtime.kind)
    atol, rtol = float(tol.get("atol", 1e-3)), float(tol.get("rtol", 1e-3))
    got = runtime.infer(inputs)
    max_abs, ratio, worst = 0.0, 0.0, ""
    for name, want in expected.items():
        if name not in got:
            raise ParityError(f"{runtime.kind} returned no output {name!r} (got {sorted(got)})")
        have = np.asarray(got[name], np.float64)
        if have.shape != want.shape:
            raise ParityError(f"{runtime.kind}: output {name!r} has shape {have.shape}, "
                              f"golden {want.shape}")
        diff = np.abs(have - want)
        if not np.isfinite(diff).all():
            return ParityReport(runtime.kind, float("inf"), float("inf"), name, atol, rtol)
        local = float((diff / (atol + rtol * np.abs(want))).max(initial=0.0))
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        if local >= ratio:
            ratio, worst = local, name
    return ParityReport(runtime.kind, max_abs, ratio, worst, atol, rtol)


def check_parity(runtime: Runtime, bundle: Bundle) -> ParityReport:
    """:func:`measure_parity`, raising :class:`ParityError` with the measured error."""
    report = measure_parity(runtime, bundle)
    if not report.ok:
        raise ParityError(f"refused runtime {report.describe()} for bundle {bundle.path.name} "
                          f"({bundle.manifest.architecture})")
    logger.info("parity ok: %s", report.describe())
    return report
