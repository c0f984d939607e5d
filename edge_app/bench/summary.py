"""Roll strict plate scores up into the figures a benchmark reports and checks.

Recall per deviation kind (split by separability when it was measured), frames-to-alert,
frame-to-alert latency, false-alert wells per plate (protocol, quality and other well-level
kinds apart), false alerts per clean well and per well-frame. Rendered as Markdown or JSON;
:func:`failed_thresholds` says which command-line thresholds a summary misses.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from edge_app.bench.scoring import SCORED_KINDS, Outcome, PlateScore
from edge_app.simulation.deviations import DEVIATION_KINDS

#: A label deviation at or above this separability is one an observer can see.
VISIBLE = 0.9
FALSE_KINDS = (*SCORED_KINDS, "other")


@dataclass(frozen=True)
class KindRow:
    """Recall of one deviation kind (``subset``: all, or visible / faint by separability)."""

    kind: str
    subset: str
    n: int
    caught: int
    frames_to_alert: float | None
    latency_s: float | None

    @property
    def recall(self) -> float | None:
        return self.caught / self.n if self.n else None


@dataclass(frozen=True)
class Summary:
    """Everything a strict alert benchmark reports over one or more plates."""

    plates: int
    wells: int
    clean_wells: int
    well_frames: int
    kinds: tuple[KindRow, ...]
    false_wells_per_plate: dict[str, float]
    #: Plates with at least one false alert of the kind (under a clean plate, the share of
    #: plates with any false alert is what an e-BH / FDR budget bounds).
    plates_with_false: dict[str, int]
    false_alerts_per_clean_well: dict[str, float]
    false_alerts_per_well_frame: dict[str, float]
    latency_s: dict[str, float | None]
    notices: int
    deviations: tuple[dict[str, Any], ...] = field(default=())
    notice_texts: tuple[str, ...] = field(default=())
    #: The effective ``alerts`` settings of the run (the nominal error rate / budget).
    nominal: dict[str, Any] = field(default_factory=dict)

    def recall(self, kind: str, subset: str = "all") -> float | None:
        """Recall of a deviation kind, or of ``protocol`` / ``quality`` as a whole."""
        rows = [r for r in self.kinds if r.subset == subset and
                (r.kind == kind or _family(r.kind) == kind)]
        n = sum(r.n for r in rows)
        return sum(r.caught for r in rows) / n if n else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kinds"] = [{**asdict(r), "recall": r.recall} for r in self.kinds]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, default=str)


def _family(kind: str) -> str:
    return "protocol" if DEVIATION_KINDS.get(kind) else "quality"


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(statistics.median(known)) if known else None


def _kind_row(kind: str, subset: str, outcomes: Sequence[Outcome]) -> KindRow:
    caught = [o for o in outcomes if o.caught]
    return KindRow(kind, subset, len(outcomes), len(caught),
                   _median([o.frames_to_alert for o in caught]),
                   _median([o.latency_s for o in caught]))


def _subset(outcome: Outcome, separability: Mapping[tuple[str, str], float]) -> str | None:
    value = separability.get((outcome.deviation.plate_id, outcome.deviation.well))
    if value is None:
        return None
    return "visible" if value >= VISIBLE else "faint"


def _kind_rows(outcomes: Sequence[Outcome],
               separability: Mapping[tuple[str, str], float]) -> tuple[KindRow, ...]:
    rows = []
    for kind in DEVIATION_KINDS:
        mine = [o for o in outcomes if o.deviation.kind == kind]
        if not mine:
            continue
        rows.append(_kind_row(kind, "all", mine))
        for subset in ("visible", "faint"):
            part = [o for o in mine if _subset(o, separability) == subset]
            if part:
                rows.append(_kind_row(kind, subset, part))
    return tuple(rows)


def summarise(
    plates: Sequence[PlateScore], separability: Mapping[tuple[str, str], float] | None = None
) -> Summary:
    """One :class:`Summary` over ``plates``; ``separability``: (plate, well) -> accuracy."""
    separability = separability or {}
    outcomes = [o for p in plates for o in p.outcomes]
    clean = sum(len(p.clean_wells) for p in plates)
    frames = sum(p.well_frames for p in plates)
    in_clean = {kind: sum(1 for p in plates for a in p.false_alerts if a.well in p.clean_wells
                          and (a.kind == kind or (kind == "other" and a.kind not in SCORED_KINDS)))
                for kind in FALSE_KINDS}
    every = {kind: sum(1 for p in plates for a in p.false_alerts
                       if a.kind == kind or (kind == "other" and a.kind not in SCORED_KINDS))
             for kind in FALSE_KINDS}
    latencies = sorted(o.latency_s for o in outcomes if o.latency_s is not None)
    return Summary(
        plates=len(plates), wells=sum(len(p.wells) for p in plates), clean_wells=clean,
        well_frames=frames, kinds=_kind_rows(outcomes, separability),
        false_wells_per_plate={k: sum(len(p.false_wells(k)) for p in plates) / max(len(plates), 1)
                               for k in FALSE_KINDS},
        plates_with_false={k: sum(bool(p.false_wells(k)) for p in plates) for k in FALSE_KINDS},
        false_alerts_per_clean_well={k: in_clean[k] / clean if clean else 0.0
                                     for k in FALSE_KINDS},
        false_alerts_per_well_frame={k: every[k] / frames if frames else 0.0
                                     for k in FALSE_KINDS},
        latency_s={"median": _median(latencies),
                   "max": latencies[-1] if latencies else None},
        notices=sum(len(p.notices) for p in plates),
        deviations=tuple(_deviation_row(o, separability) for o in outcomes),
        notice_texts=tuple(dict.fromkeys(n for p in plates for n in p.notices))[:10],
    )


def _deviation_row(outcome: Outcome, separability: Mapping[tuple[str, str], float]
                   ) -> dict[str, Any]:
    d = outcome.deviation
    return {"plate": d.plate_id, "well": d.well, "kind": d.kind, "label": d.label,
            "plate_map": d.expected, "seeded": d.actual, "caught": outcome.caught,
            "frames_to_alert": outcome.frames_to_alert, "well_frames": outcome.well_frames,
            "separability": separability.get((d.plate_id, d.well))}


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(summary: Summary) -> str:
    """The summary as Markdown tables (recall per kind, false alerts, label deviations)."""
    lines = [f"Plates: {summary.plates}, wells: {summary.wells} ({summary.clean_wells} clean), "
             f"well-frames: {summary.well_frames}, plate notices: {summary.notices}"]
    if summary.nominal:
        lines.append("Alert settings: " + ", ".join(f"{k}={v}" for k, v in
                                                    sorted(summary.nominal.items())))
    lines += [f"Notice: {text}" for text in summary.notice_texts]
    lines += ["",
             "| deviation kind | subset | n | caught | recall | frames-to-alert (median) "
             "| latency s (median) |", "|---|---|---|---|---|---|---|"]
    for r in summary.kinds:
        lines.append(f"| {r.kind} | {r.subset} | {r.n} | {r.caught} | {_fmt(r.recall)} | "
                     f"{_fmt(r.frames_to_alert, 1)} | {_fmt(r.latency_s, 3)} |")
    lines += ["", "| false alerts | " + " | ".join(FALSE_KINDS) + " |",
              "|---|" + "---|" * len(FALSE_KINDS)]
    for title, values in (("wells per plate", summary.false_wells_per_plate),
                          ("plates with any", summary.plates_with_false),
                          ("per clean well", summary.false_alerts_per_clean_well),
                          ("per well-frame", summary.false_alerts_per_well_frame)):
        lines.append(f"| {title} | " + " | ".join(_fmt(values[k], 3) for k in FALSE_KINDS)
                     + " |")
    lines.append(f"\nFrame-to-alert latency: median {_fmt(summary.latency_s['median'], 3)} s, "
                 f"max {_fmt(summary.latency_s['max'], 3)} s")
    labelled = [d for d in summary.deviations if d["label"]]
    if labelled:
        lines += ["", "| plate | well | label | plate map | seeded | separability | caught |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {d['plate']} | {d['well']} | {d['label']} | {d['plate_map']} | "
                  f"{d['seeded']} | {_fmt(d['separability'])} | {'yes' if d['caught'] else 'no'} |"
                  for d in labelled]
    return "\n".join(lines)


def parse_thresholds(items: Sequence[str]) -> dict[str, float]:
    """``["empty_well=1", "protocol=0.8"]`` -> ``{"empty_well": 1.0, "protocol": 0.8}``."""
    valid = (*DEVIATION_KINDS, *SCORED_KINDS)
    out = {}
    for item in items:
        kind, sep, value = item.partition("=")
        if not sep or kind.strip() not in valid:
            raise ValueError(f"--min-recall {item!r}: give KIND=VALUE with KIND one of "
                             f"{', '.join(valid)}")
        out[kind.strip()] = float(value)
    return out


def failed_thresholds(
    summary: Summary, min_recall: Mapping[str, float] | None = None, *,
    max_false_wells: float | None = None, max_false_rate: float | None = None,
) -> list[str]:
    """One line per threshold the summary misses (empty when all are met).

    ``min_recall`` of a protocol kind applies to its visible deviations (separability >= 0.9)
    when separability was measured, else to all; ``max_false_wells`` to the false-alert wells
    per plate of protocol and of quality alerts, each; ``max_false_rate`` to the false
    (protocol + quality) alerts per clean well.
    """
    failures = []
    for kind, floor in (min_recall or {}).items():
        subset = "visible" if any(r.kind == kind and r.subset == "visible"
                                  for r in summary.kinds) else "all"
        got = summary.recall(kind, subset)
        if got is None:
            failures.append(f"recall of {kind}: no such deviation was injected")
        elif got < floor:
            failures.append(f"recall of {kind} ({subset}) {got:.2f} < {floor:.2f}")
    if max_false_wells is not None:
        for kind in SCORED_KINDS:
            got = summary.false_wells_per_plate[kind]
            if got > max_false_wells:
                failures.append(f"{kind} false-alert wells per plate {got:.2f} > "
                                f"{max_false_wells:.2f}")
    if max_false_rate is not None:
        got = sum(summary.false_alerts_per_clean_well[k] for k in SCORED_KINDS)
        if got > max_false_rate:
            failures.append(f"false alerts per clean well {got:.3f} > {max_false_rate:.3f}")
    return failures
