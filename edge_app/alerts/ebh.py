"""e-BH: false-discovery-rate control over e-values under any dependence.

Wang & Ramdas (JRSS-B 2022, arXiv 2009.02824): with ``m`` hypotheses and e-values ``e_i``,
reject the ``k*`` largest, where ``k* = max{k : e_(k) >= m / (alpha k)}``. The expected share of
false rejections is at most ``alpha`` whatever the dependence between the e-values.

:class:`EBHState` keeps the plate's e-values and re-runs the procedure only when one changed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping


def ebh_rejections(e_values: Mapping[Hashable, float], alpha: float) -> set[Hashable]:
    """The hypotheses e-BH rejects at level ``alpha`` (``m`` = ``len(e_values)``)."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    m = len(e_values)
    if m == 0:
        return set()
    ranked = sorted(e_values.items(), key=lambda kv: kv[1], reverse=True)
    k_star = 0
    for k, (_, e) in enumerate(ranked, start=1):
        if e >= m / (alpha * k):
            k_star = k
    return {key for key, _ in ranked[:k_star]}


def ebh_threshold(m: int, alpha: float, k: int = 1) -> float:
    """The e-value the ``k``-th largest must reach among ``m`` hypotheses."""
    return m / (alpha * max(1, k))


class EBHState:
    """The e-values of one plate's hypotheses; rejections recomputed only after a change."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self._e: dict[Hashable, float] = {}
        self._rejected: set[Hashable] = set()
        self._dirty = False

    def update(self, key: Hashable, e: float | None) -> None:
        """Set (or, with ``None``, drop) one hypothesis' e-value."""
        old = self._e.get(key)
        if e is None:
            if key in self._e:
                del self._e[key]
                self._dirty = True
            return
        if old != e:
            self._e[key] = e
            self._dirty = True

    def rejected(self) -> set[Hashable]:
        if self._dirty:
            self._rejected = ebh_rejections(self._e, self.alpha)
            self._dirty = False
        return set(self._rejected)

    @property
    def m(self) -> int:
        return len(self._e)

    def e_value(self, key: Hashable) -> float | None:
        return self._e.get(key)
