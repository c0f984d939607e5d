"""p-values to e-values, and the averages that stay valid under any dependence.

A *calibrator* turns a p-value into an e-value: ``e = kappa * p**(kappa - 1)`` for ``kappa`` in
(0, 1) has ``E[e] <= 1`` whenever ``p`` is a valid p-value (Vovk & Wang, Ann. Stat. 2021). An
average of e-values with fixed weights is again an e-value, whatever the dependence between
them: frames of one spheroid (sites, time points) and the two sources of evidence (replicates,
IPP engine) are averaged, never multiplied. Multiplying p-values would assume independence,
which frames of the same well do not have.

The value of ``kappa`` trades strong evidence against weak: ``kappa = 1 / ln(1/p)`` maximises
``e`` at ``p``; the default 0.1 suits ``p`` around 1e-4..1e-6, the range where a plate of a few
hundred hypotheses can reject under e-BH.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: Default calibrator exponent (see the module docstring).
DEFAULT_KAPPA = 0.1
#: p-values are clipped here before calibrating: no single number dominates without bound.
P_FLOOR = 1e-12


def calibrate(p: float, kappa: float = DEFAULT_KAPPA) -> float:
    """The e-value ``kappa * p**(kappa - 1)`` of p-value ``p`` (``p`` clipped to [1e-12, 1])."""
    if not 0.0 < kappa < 1.0:
        raise ValueError(f"kappa must be in (0, 1), got {kappa}")
    clipped = min(1.0, max(P_FLOOR, float(p)))
    return kappa * clipped ** (kappa - 1.0)


def mean_e(values: Iterable[float]) -> float | None:
    """The plain average of e-values (``None`` when there is none)."""
    items = list(values)
    return sum(items) / len(items) if items else None


def combine_sources(per_source: Sequence[float | None]) -> float | None:
    """Equal-weight average over the sources that have evidence (``None`` when none has).

    Which sources take part is decided by what the plate has (replicate groups, an in-domain
    engine), not by the values, so the average is still an e-value.
    """
    present = [e for e in per_source if e is not None]
    return sum(present) / len(present) if present else None


def p_for_e(e: float, kappa: float = DEFAULT_KAPPA) -> float:
    """The p-value a single frame would need to reach ``e`` (for messages and docs)."""
    return min(1.0, math.exp(math.log(e / kappa) / (kappa - 1.0)))
