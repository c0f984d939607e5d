"""Quality verdicts on one segmentation: no spheroid, several objects, border, focus."""

from __future__ import annotations

from dataclasses import dataclass

from engines.classical import SegmentationOutput

NO_SPHEROID = "no_spheroid"
SEVERAL_OBJECTS = "several_objects"
TOUCHES_BORDER = "touches_border"
OUT_OF_FOCUS = "out_of_focus"
#: Every reason :func:`assess` can return, in the order it returns them.
REASONS = (NO_SPHEROID, SEVERAL_OBJECTS, TOUCHES_BORDER, OUT_OF_FOCUS)


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of :func:`assess`.

    Attributes:
        min_area_fraction: a kept object smaller than this fraction of the analysis image is
            no spheroid (debris or noise). 0.005 is a disc of ~4% of the image side across.
        max_objects: more comparable objects than this are ``several_objects``.
        flag_border: report ``touches_border`` when the kept object touches the image edge.
        min_focus: below this :func:`engines.classical.edge_focus` score the frame is out of
            focus. 0.2 was calibrated on the 50 real crops: all of them score >= 0.33 sharp,
            all score <= 0.16 after a Gaussian blur of 1.5 pixels (and 0.17-0.25 at 1 pixel).
    """

    min_area_fraction: float = 0.005
    max_objects: int = 1
    flag_border: bool = True
    min_focus: float = 0.2


def assess(seg: SegmentationOutput, config: QualityConfig | None = None) -> tuple[str, ...]:
    """The reasons a segmentation is unfit for protocol verdicts; ``()`` when it is fine.

    ``no_spheroid`` excludes the other reasons, which describe the kept object.
    """
    cfg = config or QualityConfig()
    if not seg.found or seg.mask.mean() < cfg.min_area_fraction:
        return (NO_SPHEROID,)
    reasons = []
    if seg.n_objects > cfg.max_objects:
        reasons.append(SEVERAL_OBJECTS)
    if cfg.flag_border and seg.touches_border:
        reasons.append(TOUCHES_BORDER)
    if seg.focus < cfg.min_focus:
        reasons.append(OUT_OF_FOCUS)
    return tuple(reasons)
