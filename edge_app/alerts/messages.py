"""What an alert says and the evidence it stores (the dashboard reads both).

Message: ``"C10 culture medium: looks like the RPMI wells (B1–B12), plate map says DMEMLG;
evidence 40× over 3 frames (replicate and IPP)"``. Evidence (stored as JSON in
``alerts.evidence``)::

    {"e_value": 40.2, "n_frames": 3, "sources": ["replicate", "ipp"],
     "looks_like": {"value": "RPMI", "wells": ["B1", "B2"]}, "own_group": ["C1", "C2"],
     "frames": [{"frame_id": null, "uri": "...", "p_replicate": 0.03, "p_ipp": 0.2, "e": 5.1}]}

``frame_id`` is ``null``: the rule sees frames before the store numbers them; ``uri`` names
each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_app.core.wells import well_index

_LABEL_TEXT = {
    "cell_line": "cell line", "culture_medium": "culture medium",
    "seeding_density": "seeding density", "formation_method": "formation method",
}


def label_text(label: str) -> str:
    return _LABEL_TEXT.get(label, label.replace("_", " "))


def well_ranges(wells: Sequence[str], limit: int = 6) -> str:
    """``B1–B12, C3`` style: runs of consecutive columns in a row are joined by a dash."""
    ordered = sorted(set(wells), key=well_index)
    runs: list[list[str]] = []
    for well in ordered:
        row, col = well_index(well)
        if runs and well_index(runs[-1][-1]) == (row, col - 1):
            runs[-1].append(well)
        else:
            runs.append([well])
    parts = [r[0] if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs]
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f", … ({len(ordered)} wells)"
    return ", ".join(parts)


@dataclass(frozen=True)
class FrameEvidence:
    """One frame's contribution to a (well, label) hypothesis."""

    uri: str
    p_replicate: float | None
    p_ipp: float | None
    e: float

    def as_dict(self) -> dict[str, Any]:
        return {"frame_id": None, "uri": self.uri,
                "p_replicate": _round(self.p_replicate), "p_ipp": _round(self.p_ipp),
                "e": round(self.e, 3)}


def _round(p: float | None) -> float | None:
    return None if p is None else float(f"{p:.3g}")


def evidence_dict(e_value: float, frames: Sequence[FrameEvidence], sources: Sequence[str],
                  looks_like: str | None, like_wells: Sequence[str],
                  own_wells: Sequence[str]) -> dict[str, Any]:
    """The JSON-able evidence of one alert, in the shape the dashboard relies on."""
    return {
        "e_value": round(float(e_value), 2), "n_frames": len(frames), "sources": list(sources),
        "looks_like": None if looks_like is None else {
            "value": looks_like, "wells": sorted(like_wells, key=well_index)},
        "own_group": sorted(own_wells, key=well_index),
        "frames": [f.as_dict() for f in frames],
    }


def protocol_message(well: str, label: str, expected: str, e_value: float, n_frames: int,
                     sources: Sequence[str], looks_like: str | None,
                     like_wells: Sequence[str], engine_sees: str | None,
                     own_wells: Sequence[str]) -> str:
    """One line a person can act on: what the well looks like, what the map says, and why."""
    if looks_like is not None and like_wells:
        what = f"looks like the {looks_like} wells ({well_ranges(like_wells)})"
    elif engine_sees is not None:
        what = f"the IPP engine sees {engine_sees}"
    else:
        what = f"unlike its replicates ({well_ranges(own_wells)})"
    how = " and ".join("IPP" if s == "ipp" else s for s in sources)
    frames = f"{n_frames} frame{'s' if n_frames != 1 else ''}"
    return (f"{well} {label_text(label)}: {what}, plate map says {expected}; "
            f"evidence {e_value:.0f}× over {frames} ({how})")
