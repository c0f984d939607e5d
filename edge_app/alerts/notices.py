"""Plate notices: the IPP engine is out of its domain, or disagrees with a whole condition.

Both mute the engine's absolute evidence where it cannot be trusted and say so once, as an
alert of kind ``"notice"`` with no well, instead of one alert per well:

- :class:`DomainMonitor`: when more than a quarter of a plate's usable frames (at least
  ``min_frames`` with an OOD score) are out of the engine's domain, absolute evidence is muted
  for the plate. The OOD threshold is the 99% quantile of held-out in-domain frames, so an
  in-domain plate shows about 1% flagged; a plate with a quarter flagged comes from another
  distribution, and its frames under the threshold are no better calibrated.
- :class:`ConditionMonitor`: when the engine rejects the plate map's value (p <= the per-frame
  ``error_rate``) in most wells of one (label, value) group, that group's absolute evidence is
  muted: either the whole condition is mislabelled or the engine is wrong for it, and a person
  decides. Until ``min_wells`` wells of a group were seen, its absolute evidence waits, so one
  well cannot alert before the group's pattern is known.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from edge_app.alerts.messages import label_text, well_ranges
from edge_app.core.results import Alert, Severity

OOD_MESSAGE = ("IPP engine out of domain on this plate; protocol alerts use replicate "
               "evidence only")


def notice(plate_id: str | None, uri: str, now: datetime, message: str, label: str,
           expected: str | None = None, observed: str | None = None) -> Alert:
    return Alert(kind="notice", severity=Severity.WARNING, message=message, uri=uri,
                 plate_id=plate_id, well=None, raised_at=now, label=label,
                 expected=expected, observed=observed)


@dataclass
class DomainMonitor:
    """Counts usable frames in / out of the engine's domain; mutes the plate once."""

    min_frames: int = 8
    share: float = 0.25
    n_known: int = 0
    n_out: int = 0
    muted: bool = False

    def observe(self, in_domain: bool | None) -> bool:
        """Record one frame; True exactly when this frame mutes the plate."""
        if in_domain is None or self.muted:
            return False
        self.n_known += 1
        self.n_out += int(not in_domain)
        if self.n_known >= self.min_frames and self.n_out > self.share * self.n_known:
            self.muted = True
            return True
        return False


@dataclass
class _Group:
    wells: dict[str, list[bool]] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)
    muted: bool = False


@dataclass
class ConditionMonitor:
    """Per (label, value): which wells the engine disagrees with, and whether most do."""

    error_rate: float = 0.01
    most: float = 0.6
    min_wells: int = 3
    groups: dict[tuple[str, str], _Group] = field(default_factory=dict)

    def observe(self, label: str, value: str, well: str, p: float, top: str) -> bool:
        """Record one frame's p-value; True exactly when the group becomes systematic."""
        group = self.groups.setdefault((label, value), _Group())
        disagrees = p <= self.error_rate
        group.wells.setdefault(well, []).append(disagrees)
        if disagrees:
            group.seen[top] += 1
        if group.muted:
            return False
        voting = [sum(v) * 2 > len(v) for v in group.wells.values()]
        if len(voting) >= self.min_wells and sum(voting) >= max(
                self.min_wells, self.most * len(voting)):
            group.muted = True
            return True
        return False

    def usable(self, label: str, value: str, group_size: int) -> bool:
        """Whether absolute evidence of this group may count now."""
        group = self.groups.get((label, value))
        if group is None or group.muted:
            return False
        return len(group.wells) >= min(self.min_wells, max(group_size, 1))

    def message(self, label: str, value: str) -> str:
        group = self.groups[(label, value)]
        against = sorted(w for w, v in group.wells.items() if sum(v) * 2 > len(v))
        sees = group.seen.most_common(1)[0][0] if group.seen else "something else"
        return (f"IPP engine disagrees with most {label_text(label)} = {value} wells "
                f"({len(against)} of {len(group.wells)}: {well_ranges(against)}): it sees "
                f"{sees}; either the condition is mislabelled or the engine is wrong for it. "
                "Their alerts use replicate evidence only")

    def sees(self, label: str, value: str) -> str | None:
        group = self.groups.get((label, value))
        return group.seen.most_common(1)[0][0] if group and group.seen else None
