"""Signal, not a giveaway: how well shape + intensity features predict each atlas label.

A logistic regression on the nine shape descriptors and three intensity statistics should beat
chance on every biological label but stay clearly below an image model (the paper's shape-only
ablation scored 0.54 where images scored 0.85). Run ``python -m trainer.synth.signal_check``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from trainer.synth.atlas import AtlasStream
from trainer.synth.features import feature_vector

logger = logging.getLogger(__name__)

#: Label -> protocol-row attribute.
BIOLOGICAL_LABELS = {
    "cell_line": "cell_line",
    "culture_medium": "culture_medium",
    "seeding_density": "seeding_density",
    "formation_method": "formation_method",
    "timepoint": "hours",
}


@dataclass(frozen=True)
class LabelScore:
    """Held-out scores of one label and the chance baselines (majority / stratified guess)."""

    label: str
    n_classes: int
    accuracy: float
    macro_f1: float
    chance_accuracy: float
    chance_macro_f1: float


def atlas_features(n: int, seed: int, width: int) -> tuple[np.ndarray, list[dict[str, str]]]:
    """Feature matrix and label dicts of ``n`` atlas samples (empty masks skipped)."""
    rows, labels = [], []
    for sample in AtlasStream(seed, width).take(n):
        vector = feature_vector(sample.image, sample.mask)
        if vector is None:
            continue
        rows.append(vector)
        labels.append({k: str(getattr(sample.row, a)) for k, a in BIOLOGICAL_LABELS.items()})
    features = np.asarray(rows)
    features[:, :2] = np.log(features[:, :2])  # area and perimeter span decades
    features[:, 5:8] = np.log(features[:, 5:8])
    return features, labels


def score_label(features: np.ndarray, targets: np.ndarray, label: str, seed: int) -> LabelScore:
    """Fit on 70 %, score on 30 % (stratified; classes with < 2 samples dropped)."""
    values, counts = np.unique(targets, return_counts=True)
    keep = np.isin(targets, values[counts >= 2])
    x, y = features[keep], targets[keep]
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.3, random_state=seed, stratify=y
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    majority = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
    guess = DummyClassifier(strategy="stratified", random_state=seed).fit(x_train, y_train)
    return LabelScore(
        label=label,
        n_classes=int(np.unique(y).size),
        accuracy=float(accuracy_score(y_test, predicted)),
        macro_f1=float(f1_score(y_test, predicted, average="macro", zero_division=0)),
        chance_accuracy=float(accuracy_score(y_test, majority.predict(x_test))),
        chance_macro_f1=float(
            f1_score(y_test, guess.predict(x_test), average="macro", zero_division=0)
        ),
    )


def signal_report(n: int = 2000, seed: int = 1, width: int = 512) -> list[LabelScore]:
    """Per-label scores of a logistic regression on shape + intensity features."""
    features, labels = atlas_features(n, seed, width)
    return [
        score_label(features, np.asarray([row[label] for row in labels]), label, seed)
        for label in BIOLOGICAL_LABELS
    ]


def main() -> None:
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for s in signal_report(n):
        logger.info(
            "%-17s k=%2d acc %.3f (chance %.3f)  macro-F1 %.3f (chance %.3f)",
            s.label,
            s.n_classes,
            s.accuracy,
            s.chance_accuracy,
            s.macro_f1,
            s.chance_macro_f1,
        )


if __name__ == "__main__":
    main()
