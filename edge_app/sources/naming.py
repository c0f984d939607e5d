"""File-name patterns: where well, site, plate and hours come from when metadata is silent.

A pattern is a regular expression with named groups. Groups with a meaning to the source:
``plate``, ``well``, ``site``, ``hours`` (hours since seeding, a number) and ``time`` (a
time-point index). Other named groups (the SLiMIA labels) are kept as ``labels``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

from edge_app.core.wells import WellError, normalise_well

_NUMBER = r"\d+(?:\.\d+)?"
_EXT = r"(?:\.[A-Za-z][A-Za-z0-9]*)*"
_KNOWN_GROUPS = frozenset({"plate", "well", "site", "hours", "time"})
log = logging.getLogger(__name__)

#: Preset patterns by name (see ``reference/slimia.md`` for the SLiMIA grammar).
PRESETS: dict[str, str] = {
    "slimia": (
        r"^(?P<cell_line>[^_/]+)_(?P<culture_medium>[^_/]+)_(?P<formation_method>[^_/]+)"
        r"_(?P<seeding_density>\d+)cells_(?P<hours>" + _NUMBER + r")h"
        r"_B(?P<biological_rep>\d+)_T(?P<technical_rep>\d+)_(?P<magnification>\d+[xX])"
        + _EXT
        + r"$"
    ),
    "plate-well-site-time": (
        r"^(?P<plate>.+?)_(?P<well>[A-Pa-p]\d{1,2})_s(?P<site>\d+)_t(?P<hours>"
        + _NUMBER
        + r")h"
        + _EXT
        + r"$"
    ),
}

#: The order in which presets are tried when no pattern is given (first match wins).
PRESET_ORDER = ("plate-well-site-time", "slimia")

_POSITION = re.compile(r"^\s*(?P<well>[A-Pa-p]\d{1,2})-Site_(?P<site>\d+)\s*$")


class NamePatternError(ValueError):
    """An unknown preset or an unusable user regex."""


class NameFieldError(ValueError):
    """A file name matched, but a group captured what its field cannot hold (``t48h`` hours)."""


@dataclass(frozen=True)
class NameFields:
    """What a file name says. ``None`` where the pattern has no such group."""

    plate: str | None = None
    well: str | None = None
    site: int | None = None
    hours: float | None = None
    time: int | None = None
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class NamePattern:
    """A compiled file-name pattern; ``parse`` matches the base name (with extension)."""

    name: str
    regex: re.Pattern[str]

    def parse(self, file_name: str) -> NameFields | None:
        """Return the fields of ``file_name`` or ``None`` when it does not match."""
        match = self.regex.search(file_name)
        if match is None:
            return None
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        try:
            well = normalise_well(groups["well"]) if "well" in groups else None
        except WellError:
            return None
        magnification = groups.get("magnification")
        labels = {k: v for k, v in groups.items() if k not in _KNOWN_GROUPS}
        if magnification:
            labels["magnification"] = magnification.upper()
        return NameFields(
            plate=groups.get("plate"),
            well=well,
            site=_number(groups, "site", int, file_name),
            hours=_number(groups, "hours", float, file_name),
            time=_number(groups, "time", int, file_name),
            labels=labels,
        )

    def describe(self) -> str:
        return self.name


def _number(groups: dict[str, str], key: str, kind: type, file_name: str) -> Any:
    """``groups[key]`` as a finite number of ``kind``; ``NameFieldError`` naming the group."""
    if key not in groups:
        return None
    text = groups[key].strip()
    try:
        if kind is int and text.isdigit():
            return int(text)  # exact, however long: the store says when it cannot hold it
        value = float(text)
        if not math.isfinite(value) or (kind is int and value != int(value)):
            raise ValueError(text)
        return int(value) if kind is int else value
    except (ValueError, OverflowError):
        raise NameFieldError(
            f"file name {file_name!r}: group {key!r} captured {groups[key]!r}, not "
            f"{'a whole' if kind is int else 'a'} number; fix the pattern's {key} group"
        ) from None


class AutoNamePattern:
    """No pattern given: each name is tried against the presets in ``PRESET_ORDER``.

    The first preset that parses a name is used for it; each preset's first match (and the
    first name that no preset parses) is logged, and :meth:`describe` says which matched.
    """

    name = "auto"

    def __init__(self, order: tuple[str, ...] = PRESET_ORDER) -> None:
        self._presets = [get_name_pattern(preset) for preset in order]
        self.matched: dict[str, int] = {}
        self._told_unmatched = False

    def parse(self, file_name: str) -> NameFields | None:
        for preset in self._presets:
            fields = preset.parse(file_name)
            if fields is not None:
                if preset.name not in self.matched:
                    log.info("file names match the %r name preset (no --pattern given; tried "
                             "%s in that order)", preset.name, ", ".join(PRESET_ORDER))
                self.matched[preset.name] = self.matched.get(preset.name, 0) + 1
                return fields
        return None

    def describe(self) -> str:
        if not self.matched:
            return f"auto: no preset matched yet (tries {', '.join(PRESET_ORDER)})"
        counts = list(self.matched.items())
        return "auto: " + ", ".join(f"{name} ({n} names)" for name, n in counts)


#: What the folder source parses names with: one pattern, or the presets in turn.
NameParser = NamePattern | AutoNamePattern


def list_name_patterns() -> list[str]:
    """Names of the preset patterns."""
    return sorted(PRESETS)


def get_name_pattern(spec: str) -> NamePattern:
    """A preset by name, else ``spec`` compiled as a regex with at least one known group.

    Raises:
        NamePatternError: the spec is neither a preset nor a usable regex.
    """
    if spec in PRESETS:
        return NamePattern(spec, re.compile(PRESETS[spec]))
    valid = ", ".join(list_name_patterns())
    try:
        regex = re.compile(spec)
    except re.error as exc:
        raise NamePatternError(
            f"{spec!r} is not a preset ({valid}) and not a valid regex: {exc}"
        ) from exc
    if not _KNOWN_GROUPS & set(regex.groupindex):
        raise NamePatternError(
            f"{spec!r} is not a preset ({valid}) and has none of the named groups "
            f"{sorted(_KNOWN_GROUPS)}; e.g. r'(?P<well>[A-P]\\d+)_t(?P<hours>\\d+)h'"
        )
    return NamePattern("custom", regex)


def parse_position_name(text: str) -> tuple[str, int] | None:
    """Well and site of a Micro-Manager HCS position label (``"A1-Site_0"`` -> ``("A1", 0)``)."""
    match = _POSITION.match(str(text))
    if match is None:
        return None
    try:
        return normalise_well(match.group("well")), int(match.group("site"))
    except WellError:
        return None
