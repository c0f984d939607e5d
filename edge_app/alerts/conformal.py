"""Absolute evidence: the IPP engine's Mondrian p-value of the plate map's value.

A thin adapter over the engine's contract (``engines.conformal.mondrian_p_value`` on the
per-class calibration scores stored in the IPP bundle's manifest, and
``IPPEngine.analyse_batch`` returning probabilities, embedding and an out-of-distribution
score per frame), so the alert logic can be tested with fakes and keeps working with an engine
that predates the contract (then there is simply no absolute evidence, or no OOD gate).

The p-value of value ``c`` is ``(1 + #{calibration scores of class c >= 1 - p(c|x)}) /
(n_c + 1)``: valid when the frame is exchangeable with the calibration frames of ``c``, which
holds only inside the engine's domain (hence the OOD gate in :mod:`edge_app.alerts.notices`).
For an ordinal label, the plate map's value is matched to every class within the tolerance and
the largest p-value is used (valid for whichever of them is true).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_app.alerts.ordinal import ORDINAL, canon, within_tolerance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IPPFrameOutput:
    """What the IPP engine says about one frame (the fields the alert logic reads)."""

    probabilities: dict[str, dict[str, float]]
    embedding: tuple[float, ...] | None = None
    ood_score: float | None = None
    in_domain: bool | None = None


def _class_scores_p(scores: Sequence[float], prob: float) -> float:
    ordered = np.asarray(scores, np.float64)
    at_least = len(ordered) - int(np.searchsorted(ordered, 1.0 - float(prob) - 1e-6, "left"))
    return (1.0 + at_least) / (len(ordered) + 1.0)


@dataclass(frozen=True)
class IPPCalibration:
    """Per head: its classes, whether ordinal, and the per-class calibration scores."""

    scores: Mapping[str, Mapping[str, Sequence[float]]]
    ordinal: frozenset[str] = field(default_factory=frozenset)
    density_fold: float = 1.5
    hours: float = 12.0

    @classmethod
    def from_engine(cls, ipp: Any) -> IPPCalibration | None:
        """From a loaded IPP engine's manifest; ``None`` when it stores no per-class scores."""
        if ipp is None:
            return None
        manifest = ipp.bundle.manifest
        scores = getattr(manifest.calibration, "mondrian", None) or {}
        if not scores:
            log.warning("the IPP bundle has no per-class calibration scores; protocol alerts "
                        "use replicate evidence only (recalibrate the bundle to add them)")
            return None
        ordinal = frozenset(h.name for h in manifest.output.heads if h.ordinal)
        return cls(scores=scores, ordinal=ordinal)

    def heads(self) -> tuple[str, ...]:
        return tuple(self.scores)

    def p_value(self, head: str, value: str, probs: Mapping[str, float]) -> float | None:
        """p-value of the plate map's ``value`` on ``head`` (``None``: no evidence possible)."""
        per_class = self.scores.get(head)
        if not per_class or not probs:
            return None
        matches = self._matches(head, value, probs)
        ps = [_class_scores_p(per_class[c], probs[c]) for c in matches if per_class.get(c)]
        return max(ps) if ps else None

    def _matches(self, head: str, value: str, probs: Mapping[str, float]) -> list[str]:
        if head in self.ordinal or head in ORDINAL:
            return [c for c in probs if within_tolerance(
                head, value, c, density_fold=self.density_fold, hours=self.hours)]
        return [c for c in probs if canon(c) == canon(value)]


def run_ipp(ipp: Any, pixels: Sequence[np.ndarray], shapes: Sequence[Any]
            ) -> list[IPPFrameOutput]:
    """The engine's per-frame outputs: ``analyse_batch`` when it has it, else probabilities."""
    analyse = getattr(ipp, "analyse_batch", None)
    if analyse is None:
        return [IPPFrameOutput(probabilities=p) for p in ipp.predict_batch(pixels, shapes)]
    outputs = []
    for out in analyse(pixels, shapes):
        embedding = getattr(out, "embedding", None)
        score = getattr(out, "ood_score", None)
        in_domain = getattr(out, "in_domain", None)
        vector = np.asarray(embedding if embedding is not None else (), np.float64).ravel()
        outputs.append(IPPFrameOutput(
            probabilities={k: dict(v) for k, v in out.probabilities.items()},
            embedding=tuple(vector.tolist()) if vector.size else None,
            ood_score=None if score is None or math.isnan(score) else float(score),
            in_domain=None if in_domain is None else bool(in_domain)))
    return outputs
