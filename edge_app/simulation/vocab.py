"""Label vocabularies, protocol rows and SLiMIA-like confounded sampling of rows.

The vocabulary is data (:data:`edge_app.simulation.vocab_data.DEFAULT_VOCABULARY` or any mapping of
the same shape, e.g. loaded from JSON); this module only looks names up and samples from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from edge_app.simulation.vocab_data import DEFAULT_VOCABULARY

#: Labels whose values must be one of the vocabulary's names.
NAMED_LABELS = ("cell_line", "culture_medium", "formation_method", "microscope")
#: The label columns of a plate map / protocol row, in SLiMIA order.
LABEL_COLUMNS = (
    "cell_line",
    "culture_medium",
    "formation_method",
    "seeding_density",
    "microscope",
    "magnification",
    "biological_rep",
    "technical_rep",
)


class VocabularyError(ValueError):
    """A label value that the vocabulary does not know (the message lists the valid ones)."""


def _key(text: object) -> str:
    return re.sub(r"[^0-9a-z]", "", str(text).lower())


def _number(text: object, label: str) -> float:
    match = re.search(r"\d+(?:\.\d+)?", str(text))
    if match is None:
        raise VocabularyError(f"{label}: {text!r} is not a number")
    return float(match.group())


@dataclass(frozen=True)
class ProtocolRow:
    """One protocol: the labels of an image (SLiMIA grammar) plus hours since seeding."""

    cell_line: str
    culture_medium: str
    formation_method: str
    seeding_density: int
    hours: float
    microscope: str
    magnification: str = "10X"
    biological_rep: str = "B1"
    technical_rep: str = "T1"

    @property
    def magnification_factor(self) -> float:
        """The objective's magnification as a number (``"10X"`` -> 10.0)."""
        return _number(self.magnification, "magnification")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_labels(self, **changes: Any) -> ProtocolRow:
        """A copy with some labels replaced (used to inject deviations)."""
        return ProtocolRow(**{**asdict(self), **changes})


@dataclass(frozen=True)
class Vocabulary:
    """Label vocabularies and their renderer effects, read from a data mapping."""

    data: Mapping[str, Any]

    @classmethod
    def default(cls) -> Vocabulary:
        return cls(DEFAULT_VOCABULARY)

    @classmethod
    def from_json(cls, path: str | Path) -> Vocabulary:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    @cached_property
    def _index(self) -> dict[str, dict[str, str]]:
        return {label: {_key(n): n for n in self.data[label]} for label in NAMED_LABELS}

    def names(self, label: str) -> tuple[str, ...]:
        """The class names of ``label`` in vocabulary order."""
        if label not in self.data:
            raise VocabularyError(f"unknown label {label!r}; valid: {sorted(self.data)}")
        return tuple(str(v) for v in self.data[label])

    def canonical(self, label: str, value: object) -> str:
        """The vocabulary's spelling of ``value`` (case- and punctuation-insensitive)."""
        found = self._index[label].get(_key(value))
        if found is None:
            raise VocabularyError(
                f"{label}: unknown value {value!r}; valid: {', '.join(self.names(label))}"
            )
        return found

    def effect(self, label: str, value: object) -> Mapping[str, Any]:
        """The renderer parameters of one class of a named label."""
        return self.data[label][self.canonical(label, value)]  # type: ignore[no-any-return]

    def row_from_mapping(self, labels: Mapping[str, object], hours: float) -> ProtocolRow:
        """A validated :class:`ProtocolRow` from a plate-map row (label column -> value)."""
        missing = [c for c in (*NAMED_LABELS, "seeding_density") if c not in labels]
        if missing:
            raise VocabularyError(f"protocol row lacks {missing}; it has {sorted(labels)}")
        magnification = str(labels.get("magnification") or "10X").upper().replace(" ", "")
        return ProtocolRow(
            cell_line=self.canonical("cell_line", labels["cell_line"]),
            culture_medium=self.canonical("culture_medium", labels["culture_medium"]),
            formation_method=self.canonical("formation_method", labels["formation_method"]),
            seeding_density=int(_number(labels["seeding_density"], "seeding_density")),
            hours=float(hours),
            microscope=self.canonical("microscope", labels["microscope"]),
            magnification=f"{_number(magnification, 'magnification'):g}X",
            biological_rep=str(labels.get("biological_rep") or "B1"),
            technical_rep=str(labels.get("technical_rep") or "T1"),
        )

    def sample_row(self, rng: np.random.Generator) -> ProtocolRow:
        """One protocol drawn with SLiMIA's microscope-to-label confounding."""
        scopes = self.data["microscope"]
        microscope = str(rng.choice(list(scopes)))
        scope = scopes[microscope]
        return ProtocolRow(
            cell_line=_weighted(scope["cell_line"], rng),
            culture_medium=_weighted(scope["culture_medium"], rng),
            formation_method=_weighted(scope["formation_method"], rng),
            seeding_density=int(_weighted(scope["seeding_density"], rng)),
            hours=float(_weighted(scope["timepoint"], rng)),
            microscope=microscope,
            magnification=_weighted(scope["magnification"], rng),
            biological_rep=f"B{int(rng.integers(1, 5))}",
            technical_rep=f"T{int(rng.integers(1, 9))}",
        )


def _weighted(choices: Mapping[str, float], rng: np.random.Generator) -> str:
    names = list(choices)
    weights = np.asarray([float(choices[n]) for n in names])
    return str(names[int(rng.choice(len(names), p=weights / weights.sum()))])
