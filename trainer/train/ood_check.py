"""Does an IPP bundle's out-of-distribution score separate what it was not trained on?

Three groups of frames go through the production path (:func:`recalibrate.collect`: classical
segmentation, quality gate, :meth:`IPPEngine.raw_outputs`):

- in domain: fresh atlas renders of a seed used neither in training nor in recalibration;
- a held-out microscope: atlas renders through :data:`HELD_OUT_SCOPE`, optics that none of
  the atlas microscopes has (brighter background, stronger gradient and vignetting, more
  noise, softer focus, smaller pixels), with OperaPhenix's protocol mix;
- real bright-field images (``shared/data/real``: spheroid crops, organoid fields, an MCF7
  time-lapse), read where they lie.

For each outside group: AUROC of the OOD score against the in-domain frames and the fraction
above the bundle's threshold. On the in-domain frames the Mondrian p-value of the true class
is also checked: the share with ``p <= alpha`` should stay near ``alpha``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer.train.recalibrate import UNKNOWN, Collected, atlas_frames, collect

logger = logging.getLogger(__name__)

#: A microscope the atlas never renders (see the module docstring).
HELD_OUT_SCOPE: dict[str, Any] = {
    "camera_pixel_um": 4.5, "native_width": 2048, "native_height": 2048, "bits": 16,
    "noise": 0.022, "gradient": 0.12, "vignetting": 0.22, "background": 0.7,
    "scale_bar": False, "blur": 1.1,
}
HELD_OUT_NAME = "HeldOutScope"
PROTOCOL_FROM = "OperaPhenix"
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")


@dataclass(frozen=True)
class GroupResult:
    """OOD figures of one group of frames against the in-domain group."""

    name: str
    rendered: int
    usable: int
    auroc: float
    flagged: float


def held_out_renderer() -> Any:
    """A renderer whose only microscope is :data:`HELD_OUT_SCOPE`."""
    from edge_app.simulation.renderer import SpheroidRenderer
    from edge_app.simulation.vocab import Vocabulary

    data = copy.deepcopy(dict(Vocabulary.default().data))
    protocol = {k: v for k, v in data["microscope"][PROTOCOL_FROM].items()
                if isinstance(v, dict)}
    data["microscope"] = {HELD_OUT_NAME: {**HELD_OUT_SCOPE, **protocol}}
    return SpheroidRenderer(Vocabulary(data))


def real_frames(root: Path) -> Iterator[tuple[np.ndarray, None]]:
    """Every real image under ``root`` (sorted), unlabelled."""
    import cv2

    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                       and "mask" not in p.as_posix().lower()):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is not None:
            yield (image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), None


def _scores(engine: Any, collected: Collected) -> np.ndarray:
    from engines.ood import ood_scores

    return ood_scores(engine.ood, collected.features)


def compare(name: str, inside: np.ndarray, outside: Collected, engine: Any) -> GroupResult:
    from sklearn.metrics import roc_auc_score

    scores = _scores(engine, outside)
    truth = np.r_[np.zeros(len(inside)), np.ones(len(scores))]
    auroc = float(roc_auc_score(truth, np.r_[inside, scores]))
    flagged = float((scores > engine.bundle.manifest.ood.threshold).mean())
    return GroupResult(name, outside.rendered, len(outside), auroc, flagged)


def mondrian_false_alarms(engine: Any, collected: Collected, alpha: float
                          ) -> dict[str, float]:
    """Per head: share of in-domain frames whose true class has ``p <= alpha``."""
    from engines.conformal import mondrian_p_value

    calibration = engine.bundle.manifest.calibration
    probs = engine.probabilities(collected.logits)
    out = {}
    for head in engine.bundle.manifest.output.heads:
        alarms = [mondrian_p_value(calibration, head.name, head.labels[y],
                                   probs[i][head.name][head.labels[y]]) <= alpha
                  for i, y in enumerate(collected.labels[head.name]) if y != UNKNOWN]
        out[head.name] = float(np.mean(alarms)) if alarms else float("nan")
    return out


def run_check(bundle: Path, n: int = 600, seed: int = 12, threads: int = 1,
              real_root: Path | None = None) -> tuple[list[GroupResult], dict[str, float], int]:
    """``(outside groups, Mondrian false-alarm share at 0.05 per head, in-domain count)``."""
    from engines.realdata import real_data_root
    from engines.tasks import IPPEngine

    engine = IPPEngine(bundle, "onnx", threads=threads)
    engine.load()
    spec = engine.bundle.manifest.ood
    if engine.ood is None or spec is None:
        raise ValueError(f"{bundle} has no OOD statistics; run 'sentinel train recalibrate'")
    width = int(engine.bundle.manifest.data.get("width", 512))
    inside = collect(engine, atlas_frames(seed, n, width))
    inside_scores = _scores(engine, inside)
    groups = [compare(f"held-out microscope ({HELD_OUT_NAME})", inside_scores,
                      collect(engine, atlas_frames(seed, n, width, held_out_renderer())),
                      engine)]
    root = real_root or real_data_root()
    if root is not None:
        groups.append(compare("real images (shared/data/real)", inside_scores,
                              collect(engine, real_frames(root)), engine))
    flagged_inside = float((inside_scores > spec.threshold).mean())
    groups.insert(0, GroupResult(f"in domain (atlas seed {seed})", inside.rendered,
                                 len(inside), 0.5, flagged_inside))
    return groups, mondrian_false_alarms(engine, inside, 0.05), len(inside)


def format_check(groups: list[GroupResult], alarms: Mapping[str, float]) -> str:
    """Markdown tables of :func:`run_check`'s result."""
    lines = ["| frames | rendered | usable | AUROC vs in domain | flagged OOD |",
             "|---|---:|---:|---:|---:|"]
    for g in groups:
        auroc = "-" if g.name.startswith("in domain") else f"{g.auroc:.3f}"
        lines.append(f"| {g.name} | {g.rendered} | {g.usable} | {auroc} | {g.flagged:.1%} |")
    lines += ["", "| head | in-domain frames with p(true class) <= 0.05 |", "|---|---:|"]
    lines += [f"| {h} | {v:.1%} |" for h, v in alarms.items()]
    return "\n".join(lines)
