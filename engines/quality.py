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
        max_objects: more comparable objects (at least ``ClassicalConfig.comparable_fraction``,
            25%, of the spheroid's area) than this are ``several_objects``.
        max_second_object: a compact other object larger than this fraction of the
            spheroid's area is ``several_objects`` too (a satellite spheroid or clump
            between debris and 25%). 0.05 was chosen on 150 clean simulator renders (none has
            a compact second object at all: the burnt-in scale bars are elongated) and the
            50 real crops (only 2 exceed 0.05, both already above 25%); simulated debris
            particles (5-40 um) stay under it in 88% of frames, so this rule is not what
            catches debris.
        max_particles: more other objects (``SegmentationOutput.n_particles``, down to
            ``ClassicalConfig.particle_area_fraction`` of the image) than this are
            ``several_objects`` (debris). 5 was chosen on simulator renders at the plate
            simulator's 512-px width, 150 rows with the plate's debris deviation (20-60
            particles) and the same rows clean: clean frames have at most 2 (the scale bar),
            94% of debris frames have more than 5; on the 50 real crops 1 has more than 5.
            With the three rules (and scale bars no longer counted as objects), on 150 other
            simulator rows: debris caught 139/150 (12/150 before), clean frames flagged
            1/150 (10/150 before); real crops flagged 1/50 (0/50 before), still 45/50
            plausible.
        flag_border: report ``touches_border`` when the kept object touches the image edge.
        min_focus: below this :func:`engines.classical.edge_focus` score the frame is out of
            focus. The 50 real crops score >= 0.33 sharp, <= 0.16 after a Gaussian blur of
            1.5 pixels (0.17-0.25 at 1 pixel); sharp simulator renders at the plate
            simulator's 512 px score 0.195-0.32 (the renderer's optics blur them about a
            pixel), so 0.2 flagged sharp simulated wells; 0.17 sits between the two and
            still flags every 1.5-pixel blur of a real crop. The score reads noise as
            sharpness, so it misses strong defocus, which ``max_edge_width`` catches.
        max_edge_width: above this :func:`engines.classical.edge_width` (analysis pixels)
            the frame is out of focus. 4.0: sharp simulator renders measure 0.7-1.4 and the
            real crops 0-2.7; spheroids defocused by 25-60 um measure 6-9, or are found only
            by the segmenter's low-resolution rescue, with wider edges still.
    """

    min_area_fraction: float = 0.005
    max_objects: int = 1
    max_second_object: float = 0.05
    max_particles: int = 5
    flag_border: bool = True
    min_focus: float = 0.17
    max_edge_width: float = 4.0


def assess(seg: SegmentationOutput, config: QualityConfig | None = None) -> tuple[str, ...]:
    """The reasons a segmentation is unfit for protocol verdicts; ``()`` when it is fine.

    ``no_spheroid`` excludes the other reasons, which describe the kept object.
    """
    cfg = config or QualityConfig()
    if not seg.found or seg.mask.mean() < cfg.min_area_fraction:
        return (NO_SPHEROID,)
    reasons = []
    if (seg.n_objects > cfg.max_objects or seg.second_object > cfg.max_second_object
            or seg.n_particles > cfg.max_particles):
        reasons.append(SEVERAL_OBJECTS)
    if cfg.flag_border and seg.touches_border:
        reasons.append(TOUCHES_BORDER)
    if seg.focus < cfg.min_focus or seg.edge_width > cfg.max_edge_width:
        reasons.append(OUT_OF_FOCUS)
    return tuple(reasons)
