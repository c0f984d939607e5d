"""``ProtocolEvidenceRule``: "this well is not what the plate map says", with a false-alarm budget.

Per usable frame it gathers two kinds of evidence for every (well, label) hypothesis:
replicate evidence (:mod:`edge_app.alerts.replicate`: the well against its own replicate
group and the plate's other groups, at the same time point) and absolute evidence (the IPP
engine's Mondrian p-value of the plate-map value, :mod:`edge_app.alerts.conformal`), turns
p-values into e-values with a calibrator, averages them over the well's frames and the two
sources (:mod:`edge_app.alerts.evalues`). A well's e-value is the average over its labels (an
e-value for "every label of the well is right"), and the wells e-BH rejects at ``fdr`` across
the plate alert (:mod:`edge_app.alerts.ebh`): once per well and plate, in the step of the frame
that completes the evidence (which may be another well's frame: a replicate comparison needs
the group's wells), naming the label with the strongest evidence.

What the guarantee rests on (see docs/alerting.md): (1) replicate p-values are valid when a
well's vector is its condition's mean plus roughly Gaussian noise with the pooled covariance and
most wells of each group are labelled right; (2) IPP p-values are valid for in-domain frames
exchangeable with the bundle's calibration frames of that class (out-of-domain plates and
conditions the engine systematically disagrees with are muted, with a notice); (3) averaging
e-values is valid under any dependence between frames and sources, and e-BH controls the
false-discovery rate under any dependence between hypotheses; (4) the hypotheses are looked at
after every frame: the guarantee is exact for one look (e.g. the end of the plate); repeated
looks while evidence accumulates can exceed it somewhat, which the clean-plate benchmark
measures.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_app.alerts.conformal import IPPCalibration
from edge_app.alerts.ebh import EBHState
from edge_app.alerts.evalues import DEFAULT_KAPPA
from edge_app.alerts.evidence import FrameRecord, Key, PlateEvidence
from edge_app.alerts.features import frame_embedding, frame_vector
from edge_app.alerts.messages import evidence_dict, protocol_message
from edge_app.alerts.notices import OOD_MESSAGE, ConditionMonitor, DomainMonitor, notice
from edge_app.alerts.ordinal import ALERT_LABELS, ATTRIBUTION_ORDER, OrdinalTolerance
from edge_app.alerts.replicate import ReplicateScorer, slot_key
from edge_app.core.results import Alert, FrameResult, Severity

log = logging.getLogger(__name__)
#: Unusable frames a plate keeps in case they count later (the oldest are let go).
MAX_PENDING = 4096


@dataclass
class _PlateState:
    evidence: PlateEvidence
    ebh: EBHState
    domain: DomainMonitor
    conditions: ConditionMonitor
    alerted: set[object] = field(default_factory=set)
    everything_changed: bool = False
    #: Unusable frames with a measured object, asked again when the quality norms change
    #: (a well showing another group's look becomes evidence once that group was seen).
    pending: deque[FrameResult] = field(default_factory=lambda: deque(maxlen=MAX_PENDING))
    revision: int = -1

    def ipp_ok(self, label: str, value: str) -> bool:
        """Whether the engine's absolute evidence counts for this (label, value) group."""
        size = self.evidence.group_size(label, value)
        return not self.domain.muted and self.conditions.usable(label, value, size)


@dataclass
class ProtocolEvidenceRule:
    """Protocol alerts from replicate + IPP evidence, e-values and e-BH (see module doc)."""

    plate: Any | None = None
    calibration: IPPCalibration | None = None
    fdr: float = 0.05
    error_rate: float = 0.01
    kappa: float = DEFAULT_KAPPA
    labels: Sequence[str] = ALERT_LABELS
    tolerance: OrdinalTolerance = field(default_factory=OrdinalTolerance)
    #: Add the IPP embedding (a few plate-local principal components) to the replicate
    #: vectors. Off by default: on the bench's simulated plates the shipped engine's
    #: embedding added heavy-tailed within-group outliers (clean-well false alerts 0 -> 4 on
    #: three 96-well plates) and caught nothing more.
    use_embedding: bool = False
    #: Time points a pair's replicate evidence needs before it counts (1: any one).
    persist: int = 2
    #: The quality rule's record of the wells (frames with only their group's usual issues
    #: still count); ``None``: only frames without any quality issue count.
    norms: Any | None = None
    name: str = "protocol"

    def __post_init__(self) -> None:
        if not 0.0 < self.fdr < 1.0:
            raise ValueError(f"false_discovery_rate must be in (0, 1), got {self.fdr}")
        self.labels = tuple(self.labels)
        self._plates: dict[str | None, _PlateState] = {}
        self._lock = threading.Lock()

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        well = result.meta.well
        if expected is None or well is None:
            return []
        with self._lock:
            state = self._state(result.meta.plate_id)
            state.evidence.register(well, expected.labels)
            usable = self.norms.usable(result, expected) if self.norms else result.usable
            moved = state.evidence.count_frame(well, usable)
            if not usable and self.norms is not None and self.norms.may_become_usable(result):
                state.pending.append(result)
            moved |= self._readmit(state)
            if not usable:
                return self._decide(state, moved, [], result, now)
            alerts = self._absolute(state, result, well, now)
            changed, systematic = self._add(state, result, well)
            return alerts + self._decide(state, changed | moved, systematic, result, now)

    def _readmit(self, state: _PlateState) -> set[str]:
        """Pending frames the quality norms now let count (see :attr:`_PlateState.pending`)."""
        norms = self.norms
        if norms is None or not state.pending or norms.revision == state.revision:
            return set()
        state.revision = norms.revision
        changed: set[str] = set()
        keep = []
        for frame in state.pending:
            well = str(frame.meta.well)
            if not norms.usable(frame):
                keep.append(frame)
                continue
            changed |= state.evidence.count_frame(well, True, unfit_before=True)
            changed |= self._add(state, frame, well)[0]
        state.pending = deque(keep, maxlen=MAX_PENDING)
        return changed

    # --- state --------------------------------------------------------------------------
    def _state(self, plate_id: str | None) -> _PlateState:
        state = self._plates.get(plate_id)
        if state is None:
            scorer = ReplicateScorer(self.labels, density_fold=self.tolerance.density_fold)
            evidence = PlateEvidence(scorer, self.kappa, lambda label, value: False,
                                     persist=self.persist)
            state = _PlateState(evidence, EBHState(self.fdr), DomainMonitor(),
                                ConditionMonitor(error_rate=self.error_rate))
            evidence.ipp_ok = state.ipp_ok
            self._plates[plate_id] = state
            if self.plate is not None:  # the pipeline's plate map: every group known up front
                for name, protocol in self.plate.wells.items():
                    evidence.register(name, protocol.labels)
        return state

    # --- absolute evidence --------------------------------------------------------------
    def _absolute(self, state: _PlateState, result: FrameResult, well: str,
                  now: datetime) -> list[Alert]:
        alerts = []
        in_domain = getattr(result, "in_domain", None)
        if state.domain.observe(in_domain):
            log.warning("plate %s: %s", result.meta.plate_id, OOD_MESSAGE)
            alerts.append(notice(result.meta.plate_id, result.meta.uri, now, OOD_MESSAGE,
                                 "ipp_domain", observed="out of domain"))
            state.everything_changed = True
        return alerts

    def _ipp_ps(self, state: _PlateState, result: FrameResult, well: str
                ) -> tuple[dict[str, float], dict[str, str]]:
        probs = result.predictions
        if self.calibration is None or not probs or getattr(result, "in_domain", None) is False:
            return {}, {}
        ps, tops = {}, {}
        for label, value in state.evidence.labels_of.get(well, {}).items():
            head = probs.get(label)
            p = self.calibration.p_value(label, value, head) if head else None
            if p is not None and head:
                ps[label] = p
                tops[label] = max(head, key=head.__getitem__)
        return ps, tops

    # --- accumulate and decide ----------------------------------------------------------
    def _add(self, state: _PlateState, result: FrameResult, well: str
             ) -> tuple[set[str], list[tuple[str, str]]]:
        ps, tops = self._ipp_ps(state, result, well)
        slot = slot_key(result.meta.timepoint_index, result.hours)
        record = FrameRecord(result.meta.uri, slot, ps, tops)
        changed = state.evidence.add_frame(well, result.meta.site, record,
                                           frame_vector(result),
                                           frame_embedding(result) if self.use_embedding
                                           else None)
        systematic = []
        for label, p in ps.items():
            value = state.evidence.labels_of[well][label]
            was_usable = state.ipp_ok(label, value)
            if state.conditions.observe(label, value, well, p, tops[label]):
                systematic.append((label, value))
            if was_usable != state.ipp_ok(label, value):
                keys = state.evidence.keys_of_group(label, value)
                state.evidence.forget_ipp(keys)
                changed |= {w for w, _ in keys}
        if state.everything_changed:
            keys = [(w, lab) for w, labels in state.evidence.labels_of.items() for lab in labels]
            state.evidence.forget_ipp(keys)
            changed |= set(state.evidence.labels_of)
            state.everything_changed = False
        return changed, systematic

    def _decide(self, state: _PlateState, changed: set[str],
                systematic: list[tuple[str, str]], result: FrameResult,
                now: datetime) -> list[Alert]:
        alerts = [notice(result.meta.plate_id, result.meta.uri, now,
                         state.conditions.message(label, value), label, expected=value,
                         observed=state.conditions.sees(label, value))
                  for label, value in systematic]
        for well in changed:
            state.ebh.update(well, state.evidence.well_e_value(well)[0])
        for name in sorted(str(w) for w in state.ebh.rejected() - state.alerted):
            state.alerted.add(name)
            alerts.append(self._alert(state, name, result, now))
        return alerts

    @staticmethod
    def _attribute(evidence: PlateEvidence, well: str, per_label: dict[str, float]) -> str:
        """The label that explains the well best: the largest e-value (to 1%: replicate
        e-values saturate for p below 1e-12); then the largest replicate z; then the label
        earlier in :data:`~edge_app.alerts.ordinal.ATTRIBUTION_ORDER`, the more visible one
        (the same replicate groups can stand behind several labels)."""
        order = {label: i for i, label in enumerate(ATTRIBUTION_ORDER)}

        def key(label: str) -> tuple[float, float, int]:
            best = evidence.strongest((well, label))
            return (round(math.log(per_label[label]), 2),
                    best.z if best is not None else -math.inf, -order.get(label, 99))

        return max(per_label, key=key)

    def _alert(self, state: _PlateState, well: str, result: FrameResult, now: datetime) -> Alert:
        evidence = state.evidence
        well_e, per_label = evidence.well_e_value(well)
        # e-BH decided the well is off; the label is the single change that explains it best
        # (the per-label tests compare with groups that differ in other labels too, so the
        # label with the largest e-value is often not the one that changed)
        # (a label whose alternative groups were not imaged at enough time points yet has
        # no evidence of its own, but can still be the best explanation)
        explained = next(iter(evidence.explain(well)), None)
        if explained is not None:
            label = explained[0]
        else:
            label = self._attribute(evidence, well, per_label)
        key = (well, label)
        expected = evidence.labels_of[well][label]
        e_value = float(well_e or per_label[label])  # what e-BH rejected: the well's
        frames = evidence.frame_evidence(key)
        sources = evidence.sources(key) or sorted(
            {src for other in per_label for src in evidence.sources((well, other))})
        best = evidence.strongest(key)
        looks = best.looks_like if best is not None else None
        like = best.like_wells if best is not None and looks else ()
        if explained is not None:
            looks = explained[1]
            like = tuple(w for w, _ in evidence.keys_of_group(label, looks))
        own = best.own_wells if best is not None else ()
        sees = self._engine_sees(evidence, key)
        message = protocol_message(well, label, expected, e_value, len(frames), sources,
                                   looks, like, sees, own)
        details = evidence_dict(e_value, frames, sources, looks, like, own)
        details["well_e_value"] = round(float(well_e or 0.0), 2)
        details["labels_e_value"] = {k: round(v, 2) for k, v in per_label.items()}
        return Alert(
            kind="protocol", severity=Severity.CRITICAL, message=message,
            uri=result.meta.uri, plate_id=result.meta.plate_id, well=well, raised_at=now,
            # ``observed`` claims what the well holds: the replicate groups only say what it
            # looks like (the true value may be on no other well), so that stays in the
            # message and the evidence
            label=label, expected=expected, observed=None, evidence=details,
        )

    @staticmethod
    def _engine_sees(evidence: PlateEvidence, key: Key) -> str | None:
        tops = [f.top[key[1]] for f in evidence.frames.get(key[0], ()) if key[1] in f.top]
        return max(set(tops), key=tops.count) if tops else None
