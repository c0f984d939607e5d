"""One plate's evidence: frame vectors per time point, p-values, and e-values per hypothesis.

A hypothesis is a (well, label): "the well holds the plate map's value". Its e-value is the
equal-weight average of the sources that have evidence:

- replicate: the calibrated p-value of the well's time points tested together
  (:mod:`edge_app.alerts.overtime`; sites are averaged into the well's vector first);
- IPP: the average over the well's usable, in-domain frames of the calibrated Mondrian p-value,
  when the plate is in the engine's domain and the (label, value) group is not under a
  systematic-disagreement notice.

A well's e-value is the average over its labels' e-values: an e-value for "every label of the
well is right", which is what e-BH runs on. Only what a new frame changes is recomputed: its
time point's replicate scores and the wells whose inputs moved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from edge_app.alerts.evalues import calibrate, combine_sources
from edge_app.alerts.messages import FrameEvidence
from edge_app.alerts.overtime import combined_p
from edge_app.alerts.replicate import PlateDesign, ReplicateEvidence, ReplicateScorer, SlotScores

Key = tuple[str, str]


@dataclass
class FrameRecord:
    """A usable frame of a well as the evidence remembers it."""

    uri: str
    slot: int
    p_ipp: dict[str, float] = field(default_factory=dict)
    top: dict[str, str] = field(default_factory=dict)


@dataclass
class _WellSlot:
    """A well's frames at one time point: per-site vectors (and embeddings) and their mean."""

    sites: dict[int, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    mean: np.ndarray | None = None
    embedding: np.ndarray | None = None

    def add(self, site: int, vector: np.ndarray, embedding: np.ndarray | None) -> None:
        self.sites[site] = (vector, embedding)
        vectors = [v for v, _ in self.sites.values()]
        self.mean = np.mean(vectors, axis=0) if len({len(v) for v in vectors}) == 1 else vector
        embeds = [e for _, e in self.sites.values() if e is not None]
        same = len(embeds) == len(self.sites) and len({len(e) for e in embeds}) == 1
        self.embedding = np.mean(embeds, axis=0) if same else None


class PlateEvidence:
    """Evidence of one plate; ``ipp_ok(label, value)`` says whether absolute evidence counts."""

    def __init__(self, scorer: ReplicateScorer, kappa: float,
                 ipp_ok: Callable[[str, str], bool], persist: int = 2) -> None:
        self.scorer, self.kappa, self.ipp_ok = scorer, kappa, ipp_ok
        self.persist = persist
        self.labels_of: dict[str, dict[str, str]] = {}
        self.slots: dict[int, dict[str, _WellSlot]] = {}
        self.frames: dict[str, list[FrameRecord]] = {}
        self.scores: dict[int, SlotScores] = {}
        self.rep_p: dict[Key, float] = {}
        self.quality_wells: set[str] = set()
        self._frame_counts: dict[str, tuple[int, int]] = {}
        self._design: PlateDesign | None = None
        self._sizes: dict[tuple[str, str], int] | None = None
        self._ipp_cache: dict[Key, float | None] = {}

    # --- input --------------------------------------------------------------------------
    def register(self, well: str, labels: Mapping[str, str]) -> None:
        wanted = {k: str(v) for k, v in labels.items() if k in self.scorer.labels and v != ""}
        if self.labels_of.get(well) != wanted:
            self.labels_of[well] = wanted
            self._design, self._sizes = None, None

    @property
    def design(self) -> PlateDesign:
        if self._design is None:
            self._design = self.scorer.design(self.labels_of)
        return self._design

    def count_frame(self, well: str, usable: bool, unfit_before: bool = False) -> set[str]:
        """Count a frame of ``well`` (``unfit_before``: a frame counted unfit that now counts
        as usable); a well whose frames are mostly unfit for verdicts (debris, defocus: it has
        its own quality alerts) leaves the comparisons, and the time points it was in are
        rescored. Returns the wells whose evidence moved."""
        usable_n, unfit_n = self._frame_counts.get(well, (0, 0))
        usable_n, unfit_n = usable_n + int(usable), unfit_n + int(not usable)
        if unfit_before:
            unfit_n -= 1
        self._frame_counts[well] = (usable_n, unfit_n)
        excluded = unfit_n >= max(1, usable_n)
        if excluded == (well in self.quality_wells):
            return set()
        (self.quality_wells.add if excluded else self.quality_wells.discard)(well)
        changed = {well}
        for slot, table in self.slots.items():
            if well in table:
                changed |= self._rescore(slot)
        return changed

    def add_frame(self, well: str, site: int, record: FrameRecord, vector: np.ndarray | None,
                  embedding: np.ndarray | None) -> set[str]:
        """Remember a frame; rescore its time point; return the wells whose evidence moved."""
        self.frames.setdefault(well, []).append(record)
        for label in record.p_ipp:
            self._ipp_cache.pop((well, label), None)
        changed = {well}
        if vector is not None:
            self.slots.setdefault(record.slot, {}).setdefault(well, _WellSlot()).add(
                site, vector, embedding)
            changed |= self._rescore(record.slot)
        return changed

    def forget_ipp(self, keys: Iterable[Key]) -> None:
        """The engine's evidence for these hypotheses changed status (muted, or usable)."""
        for key in keys:
            self._ipp_cache.pop(key, None)

    def _slot_inputs(self, slot: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
        """``(present design indices, vectors, embeddings or None)`` of a time point's wells
        that take part in the comparisons (``None``: none)."""
        index = {w: i for i, w in enumerate(self.design.wells)}
        table = self.slots[slot]
        wells = [w for w, ws in table.items()
                 if w in index and w not in self.quality_wells and ws.mean is not None]
        if not wells:
            return None
        sizes = {len(table[w].mean) for w in wells}  # type: ignore[arg-type]
        wells = [w for w in wells if len(table[w].mean) == max(sizes)]  # type: ignore[arg-type]
        x = np.stack([table[w].mean for w in wells])  # type: ignore[misc]
        embeds = [v for w in wells if (v := table[w].embedding) is not None]
        e = np.stack(embeds) if len(embeds) == len(wells) and len(
            {len(v) for v in embeds}) == 1 else None
        return np.asarray([index[w] for w in wells], np.int64), x, e

    def _rescore(self, slot: int) -> set[str]:
        old = self.scores.pop(slot, None)
        stale = set(old.keys) if old is not None else set()
        inputs = self._slot_inputs(slot)
        scores = self.scorer.score(self.design, *inputs) if inputs is not None else None
        fresh: set[Key] = set()
        if scores is not None:
            self.scores[slot] = scores
            fresh = set(scores.keys)
        self.rep_p = combined_p(self.scores, self.persist)
        return {w for w, _ in stale | fresh}

    # --- output -------------------------------------------------------------------------
    def e_value(self, key: Key) -> float | None:
        """The (well, label) hypothesis' e-value: sources averaged (``None``: no evidence)."""
        if key[0] in self.quality_wells:
            return None
        rep = self.replicate_e(key)
        return combine_sources([rep, self._ipp_e(key)])

    def replicate_e(self, key: Key) -> float | None:
        """Replicate e-value over time: the calibrated p-value of the key's time points
        together (:mod:`edge_app.alerts.overtime`); ``None`` until it was scored at
        ``persist`` time points."""
        p = self.rep_p.get(key)
        return None if p is None else calibrate(p, self.kappa)

    def well_e_value(self, well: str) -> tuple[float | None, dict[str, float]]:
        """The well's e-value (average over its labels with evidence) and each label's."""
        per_label = {label: e for label in self.labels_of.get(well, {})
                     if (e := self.e_value((well, label))) is not None}
        if not per_label:
            return None, {}
        return sum(per_label.values()) / len(per_label), per_label

    def _ipp_ps(self, key: Key) -> list[tuple[FrameRecord, float]]:
        well, label = key
        found = [(f, f.p_ipp[label]) for f in self.frames.get(well, ()) if label in f.p_ipp]
        value = self.labels_of.get(well, {}).get(label)
        if not found or value is None or not self.ipp_ok(label, value):
            return []
        return found

    def _ipp_e(self, key: Key) -> float | None:
        if key not in self._ipp_cache:
            es = [calibrate(p, self.kappa) for _, p in self._ipp_ps(key)]
            self._ipp_cache[key] = sum(es) / len(es) if es else None
        return self._ipp_cache[key]

    def replicate_at(self, key: Key, slot: int) -> ReplicateEvidence | None:
        scores = self.scores.get(slot)
        if scores is None or key not in scores.keys:
            return None
        return scores.evidence(scores.keys.index(key))

    def sources(self, key: Key) -> list[str]:
        out = ["replicate"] if self.replicate_e(key) is not None else []
        return out + (["ipp"] if self._ipp_e(key) is not None else [])

    def frame_evidence(self, key: Key) -> list[FrameEvidence]:
        """Per frame: its time point's replicate p, its own IPP p, and their averaged e."""
        well = key[0]
        ipp = {id(f): p for f, p in self._ipp_ps(key)}
        out = []
        for frame in self.frames.get(well, ()):
            rep = self.replicate_at(key, frame.slot)
            p_rep = rep.p if rep is not None else None
            p_ipp = ipp.get(id(frame))
            es = [calibrate(p, self.kappa) for p in (p_rep, p_ipp) if p is not None]
            if es:
                out.append(FrameEvidence(frame.uri, p_rep, p_ipp, sum(es) / len(es)))
        return out

    def explain(self, well: str) -> list[tuple[str, str]]:
        """``(label, value)`` single label changes, the one that brings the well nearest its
        counterfactual condition first, distances summed over its time points
        (:meth:`ReplicateScorer.explain`); empty when the replicates cannot say."""
        design = self.design
        if well not in design.wells or well in self.quality_wells:
            return []
        target = design.wells.index(well)
        totals: dict[tuple[int, str], float] = {}
        for slot in sorted(self.slots):
            inputs = self._slot_inputs(slot) if well in self.slots[slot] else None
            if inputs is None:
                continue
            present, x, e = inputs
            for pair, d in self.scorer.explain(design, present, x, target, e).items():
                totals[pair] = totals.get(pair, 0.0) + d
        return [(design.labels[j], value) for j, value in sorted(totals, key=totals.__getitem__)]

    def strongest(self, key: Key) -> ReplicateEvidence | None:
        """The time point whose replicate evidence is strongest (for the message)."""
        found = [ev for slot in self.scores if (ev := self.replicate_at(key, slot)) is not None]
        return min(found, key=lambda ev: ev.p) if found else None

    def keys_of_group(self, label: str, value: str) -> list[Key]:
        return [(w, label) for w, labels in self.labels_of.items() if labels.get(label) == value]

    def group_size(self, label: str, value: str) -> int:
        if self._sizes is None:
            sizes: dict[tuple[str, str], int] = {}
            for labels in self.labels_of.values():
                for item in labels.items():
                    sizes[item] = sizes.get(item, 0) + 1
            self._sizes = sizes
        return self._sizes.get((label, value), 0)
