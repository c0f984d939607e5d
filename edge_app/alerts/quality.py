"""Quality alerts per well, judged against the well's replicate group.

A quality issue (no spheroid, several objects, touching the border, out of focus) is a
property of the well, not of one frame: one odd site among six is noise, and an issue that
most wells of a condition share is how those wells look (tight crops touch the border; cells
invading collagen are "particles"), not a fault in each of them. So:

- a well *has* an issue when at least ``persist`` of its frames show it and they are at least
  half of the well's frames so far;
- the issue is the *norm* of the well's condition group (the wells sharing every alerting
  label of the plate map; the whole plate without one) when 2 or more and at least ``share``
  (a quarter) of the group's seen wells have it, once ``min_wells`` of them were seen. Then
  one plate notice names the group, the issue and its wells, and the group's wells do not
  alert for it one by one, also if the share later falls below the norm (the notice said
  they would not: on the real-image plate a group's "no spheroid" norm seen in first frames
  dissolved with the second ones and one of its wells then alerted). Simulated debris,
  defocus and empty wells are single wells of a
  group; on real images from other labs, tight crops touch the border and cells invading
  collagen count as particles in many wells of a source, and each well alerting would bury
  the one real fault;
- otherwise the well alerts, once per issue, with how many of its frames showed it. Until
  every well of its group on the plate map was seen (without a plate map: ``min_wells``),
  its wells' alerts wait, so the group's norm is known before its first well alerts: on the
  real-image plate, alerting once half the group was seen flagged the first out-of-focus
  organoids of a group before the later ones made it the group's norm. A well of the plate
  map that is never imaged holds its group's quality alerts back;
- issues that leave a measured object (several objects, border, focus) wait until every well
  of the plate map was seen once, and a well whose issues are all the norm of *another*
  group does not alert for them: it looks like that group's wells, which a swap explains
  better than a fault, and its frames go to the protocol evidence, which tests exactly that
  (on the real-image plate two swapped wells alerted as "several objects" and "out of focus"
  and were never compared with their group). An empty well alerts without waiting.

:class:`QualityNorms` is shared with the protocol rule: frames whose only issues are their
group's norm, or all of another group's, still count as evidence there (the object was found
and measured the way its replicates, or that group's wells, were).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from edge_app.alerts.messages import well_ranges
from edge_app.alerts.notices import notice
from edge_app.alerts.ordinal import ALERT_LABELS
from edge_app.core.results import Alert, FrameResult, Quality, Severity

_TEXT = {
    Quality.NO_SPHEROID: "no spheroid found",
    Quality.SEVERAL_OBJECTS: "several objects in the field",
    Quality.TOUCHES_BORDER: "the spheroid touches the image border",
    Quality.OUT_OF_FOCUS: "the image is out of focus",
}
#: Issues that still leave a measured object (a norm of them keeps frames usable): a whole
#: group out of focus (soft-edged organoids) is still compared like for like.
_MEASURED = frozenset({Quality.SEVERAL_OBJECTS, Quality.TOUCHES_BORDER, Quality.OUT_OF_FOCUS})

Group = tuple[str | None, tuple[str, ...]]


def condition_of(expected: Any) -> tuple[str, ...]:
    """The plate map's alerting labels of a well (``()``: no plate map, the whole plate)."""
    labels = getattr(expected, "labels", None) or {}
    return tuple(str(labels.get(label, "")) for label in ALERT_LABELS) if labels else ()


@dataclass
class _Well:
    frames: int = 0
    issues: dict[Quality, int] = field(default_factory=lambda: defaultdict(int))
    last_uri: str = ""
    listed: bool = False


@dataclass
class QualityNorms:
    """Per plate: each well's quality history, and the issues each condition group shares."""

    persist: int = 2
    share: float = 0.25
    min_wells: int = 3
    plate: Any | None = None
    _wells: dict[tuple[str | None, str], _Well] = field(default_factory=dict)
    _groups: dict[Group, set[str]] = field(default_factory=lambda: defaultdict(set))
    _group_of: dict[tuple[str | None, str], Group] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _planned: Counter[tuple[str, ...]] | None = None
    _looks: dict[Group, tuple] = field(default_factory=dict)
    #: Bumped whenever a well's issues or a group's norms or settledness change (callers
    #: re-ask ``usable``).
    revision: int = 0

    def observe(self, result: FrameResult, expected: Any) -> Group | None:
        """Record a frame of a well; returns its group (``None`` without a well)."""
        well = result.meta.well
        if well is None:
            return None
        plate_id = result.meta.plate_id
        with self.lock:
            state = self._wells.setdefault((plate_id, well), _Well())
            state.frames += 1
            state.last_uri = result.meta.uri
            state.listed = expected is not None
            had = self.well_issues(plate_id, well)
            for issue in set(result.quality) - {Quality.OK}:
                state.issues[issue] += 1
            if self.well_issues(plate_id, well) != had:  # they take part in "usable"
                self.revision += 1
            group = (plate_id, condition_of(expected))
            self._groups[group].add(well)
            self._group_of[(plate_id, well)] = group
            look = (self.settled(group), tuple(self.norm(group, q) is not None for q in _TEXT))
            if self._looks.get(group) != look:  # what "usable" answers may have changed
                self._looks[group] = look
                self.revision += 1
            return group

    def has(self, plate_id: str | None, well: str, issue: Quality,
            persist: int | None = None) -> int:
        """Frames of the well showing ``issue`` when the well has it (in ``persist`` frames,
        default the norms', and at least half of them), else 0."""
        state = self._wells.get((plate_id, well))
        if state is None:
            return 0
        n = state.issues.get(issue, 0)
        need = self.persist if persist is None else persist
        return n if n >= need and 2 * n >= state.frames else 0

    def well(self, plate_id: str | None, well: str) -> _Well:
        return self._wells.get((plate_id, well)) or _Well()

    def groups(self) -> list[Group]:
        return list(self._groups)

    def members(self, group: Group) -> set[str]:
        return self._groups.get(group, set())

    def planned(self, group: Group) -> int:
        """Wells of the group on the plate map (0 when unknown)."""
        if self._planned is None:  # the plate map is fixed for the run: count once
            wells = self.plate.wells.values() if self.plate is not None else ()
            self._planned = Counter(condition_of(p) for p in wells)
        return self._planned[group[1]] if group[1] else 0

    def showing(self, group: Group, issue: Quality) -> list[str]:
        """The group's wells that have ``issue``; a well with fewer frames than ``persist``
        so far counts when they show it (its next frames may not have come yet)."""
        out = []
        for well in self.members(group):
            state = self._wells[(group[0], well)]
            short = 1 if state.frames < self.persist else None
            if self.has(group[0], well, issue, persist=short):
                out.append(well)
        return out

    def norm(self, group: Group, issue: Quality) -> tuple[int, int] | None:
        """``(wells with it, wells seen)`` when ``issue`` is the group's norm, else ``None``."""
        seen = self.members(group)
        having = len(self.showing(group, issue))
        if len(seen) >= self.min_wells and having >= 2 and having >= self.share * len(seen):
            return having, len(seen)
        return None

    def settled(self, group: Group) -> bool:
        """Whether enough of the group was seen to tell a norm from a fault."""
        planned = self.planned(group)
        return len(self.members(group)) >= (planned or self.min_wells)

    def plate_settled(self, plate_id: str | None) -> bool:
        """Whether every well of the plate map was seen (no plate map: ``True``)."""
        if self.plate is None:
            return True
        self.planned((plate_id, ()))
        assert self._planned is not None
        return all(len(self._groups.get((plate_id, cond), ())) >= n
                   for cond, n in self._planned.items())

    def looks_like(self, group: Group, issues: set[Quality]) -> Group | None:
        """Another settled group of the plate whose norms are all of ``issues`` (``None``:
        none): a well showing them looks like that group's wells, which a swap explains."""
        if not issues:
            return None
        for other in self._groups:
            if (other != group and other[0] == group[0] and other[1] and self.settled(other)
                    and all(self.norm(other, q) for q in issues)):
                return other
        return None

    @staticmethod
    def may_become_usable(result: FrameResult) -> bool:
        """Whether an unusable frame could count later (its issues leave a measured object)."""
        issues = set(result.quality) - {Quality.OK}
        return bool(issues) and issues <= _MEASURED and result.shape is not None

    def usable(self, result: FrameResult, expected: Any = None) -> bool:
        """Whether the frame may serve as protocol evidence: no issue, or only issues that
        leave a measured object and are the norm of its group, or issues the well has (in
        most of its frames) that are all the norm of one other group (then the replicate
        evidence says whether the well looks like that group)."""
        if result.usable:
            return True
        issues = set(result.quality) - {Quality.OK}
        if not issues or not issues <= _MEASURED or result.meta.well is None:
            return False
        with self.lock:
            group = self._group_of.get((result.meta.plate_id, result.meta.well))
            if group is None:
                return False
            if all(self.norm(group, q) for q in issues):
                return True
            have = self.well_issues(group[0], result.meta.well)  # the well's, not one frame's
            return issues <= have and self.looks_like(group, have) is not None

    def well_issues(self, plate_id: str | None, well: str,
                    persist: int | None = None) -> set[Quality]:
        """The issues the well has (see :meth:`has`)."""
        state = self._wells.get((plate_id, well))
        return {q for q in (state.issues if state else ())
                if self.has(plate_id, well, q, persist=persist)}


@dataclass
class QualityRule:
    """Well-level quality alerts against the group's norm (see the module doc)."""

    norms: QualityNorms = field(default_factory=QualityNorms)
    name: str = "quality"

    def __post_init__(self) -> None:
        self._alerted: set[tuple[str | None, str, Quality]] = set()
        self._noticed: set[tuple[Group, Quality]] = set()

    def evaluate(self, result: FrameResult, expected: Any, now: datetime) -> list[Alert]:
        norms = self.norms
        with norms.lock:
            group = norms.observe(result, expected)
            if group is None:
                return []
            if not norms.settled(group):
                return []
            alerts = []
            plate_seen = norms.plate_settled(group[0])
            groups = [g for g in norms.groups() if g[0] == group[0] and norms.settled(g)
                      ] if plate_seen else [group]
            for each in groups:
                for issue in _TEXT:
                    if norms.norm(each, issue):
                        alerts += self._notice(each, issue, result.meta.uri, now)
                    elif (each, issue) in self._noticed:
                        continue  # the notice said these wells are not alerted for it
                    elif plate_seen or issue not in _MEASURED:
                        for well in sorted(norms.members(each)):
                            alerts += self._well_alert(each, well, issue, now)
            return alerts

    def conclude(self, now: datetime) -> list[Alert]:
        """At the end of the run: what waited for frames that did not come (a group not
        wholly imaged, a well imaged once whose every frame shows the issue)."""
        norms, alerts = self.norms, []
        with norms.lock:
            for group in list(norms.groups()):
                for issue in _TEXT:
                    if norms.norm(group, issue):
                        alerts += self._notice(group, issue, "", now)
                        continue
                    if (group, issue) in self._noticed:
                        continue
                    for well in sorted(norms.members(group)):
                        # fewer frames than ``persist``: all of them must show it
                        frames = norms.well(group[0], well).frames
                        alerts += self._well_alert(group, well, issue, now,
                                                   persist=min(frames, norms.persist))
        return alerts

    def _notice(self, group: Group, issue: Quality, uri: str,
                now: datetime) -> list[Alert]:
        if (group, issue) in self._noticed:
            return []
        self._noticed.add((group, issue))
        having, seen = self.norms.norm(group, issue) or (0, 0)
        wells = self.norms.showing(group, issue)
        who = " / ".join(v for v in group[1] if v) or "this plate"
        message = (f"{_TEXT[issue].capitalize()} in {having} of {seen} wells of {who} "
                   f"({well_ranges(wells)}): taken as how these wells look, not alerted per "
                   "well; check the quality settings if it is a fault")
        return [notice(group[0], uri, now, message, "quality", observed=issue.value)]

    def _well_alert(self, group: Group, well: str, issue: Quality, now: datetime,
                    persist: int | None = None) -> list[Alert]:
        key = (group[0], well, issue)
        n = self.norms.has(group[0], well, issue, persist=persist)
        if not n or key in self._alerted:
            return []
        if issue in _MEASURED and self.norms.looks_like(
                group, self.norms.well_issues(group[0], well, persist=persist)):
            return []  # another group's usual look: the protocol evidence judges the well
        self._alerted.add(key)
        state = self.norms.well(group[0], well)
        severity = Severity.WARNING
        if issue is Quality.NO_SPHEROID:  # critical where the plate map says it was seeded
            severity = Severity.CRITICAL if state.listed else Severity.INFO
        return [Alert(
            kind="quality", severity=severity,
            message=f"{well}: {_TEXT[issue]} ({n} of {state.frames} frames)",
            uri=state.last_uri, plate_id=group[0], well=well, raised_at=now, label=None,
            expected=None, observed=issue.value,
        )]
