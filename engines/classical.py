"""Classical (engine-less) spheroid segmentation: the fallback when no engine is loaded."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from engines.preprocess import analysis_image, analysis_size, resize_area

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClassicalConfig:
    """Parameters of :class:`ClassicalSegmenter`.

    Lengths are fractions of the analysis image's longer side and areas fractions of its
    area, so one configuration holds at any frame size. Defaults were tuned on the real crops
    and GOAT fields in ``shared/data/real`` (see :mod:`engines.realdata`).

    Attributes:
        max_side: longer side of the analysis image (frames are shrunk to it, never enlarged).
        texture_sigma: Gaussian window of the local standard deviation (at least 1 pixel).
        floor_percentile: percentile of the texture map taken as the background level.
        floor_factor: the threshold is at least this times the background level, so a frame
            of pure noise or smooth shading yields no object.
        close_radius: radius of the closing that joins a spheroid's rim and interior.
        shrink: erosion after hole filling, in texture windows (undoes the window's spread).
        min_area_fraction: smaller objects are debris and ignored.
        comparable_fraction: another object counts towards ``n_objects`` when its area is at
            least this fraction of the kept object's.
        focus_band: half-width of the band around the kept object's edge used for focus.
        particle_area_fraction: smaller objects are not even counted as particles (debris
            counting, :attr:`SegmentationOutput.n_particles`); 1e-4 of a 512-px analysis
            image is 26 pixels, a particle ~6 px across.
        compact_elongation: another object whose bounding box is more than this many times
            longer than wide (a burnt-in scale bar, about 2:1, a fibre) is no second
            spheroid.
        rescue_side: when nothing (or only a speck under ``rescue_area``) is found, the frame
            is segmented again shrunk to this side: a spheroid far out of focus has lost the
            fine texture the segmenter looks for but is still a blob at low resolution. Its
            blurred edge then reports a wide :attr:`SegmentationOutput.edge_width`. 0 turns
            this off.
        rescue_area: the low-resolution object must cover this fraction of the image, and 4x
            what the full-resolution pass kept. 0.02: on simulator renders, empty wells with
            debris and shading give at most 0.009 at 96 px, spheroids defocused by 25-60 um
            mostly 0.06-0.33, and a sharp small spheroid the same area at both resolutions.
    """

    max_side: int = 512
    texture_sigma: float = 0.004
    floor_percentile: float = 20.0
    floor_factor: float = 2.0
    close_radius: float = 0.006
    shrink: float = 1.5
    min_area_fraction: float = 0.001
    comparable_fraction: float = 0.25
    focus_band: float = 0.015
    particle_area_fraction: float = 1e-4
    compact_elongation: float = 1.6
    rescue_side: int = 96
    rescue_area: float = 0.02


@dataclass(frozen=True)
class SegmentationOutput:
    """One frame's segmentation, at analysis resolution.

    Attributes:
        mask: the kept object (the significant object nearest the centre), bool, read-only.
        foreground: every significant object, bool, read-only.
        scale: original pixels per analysis pixel.
        n_objects: significant compact objects of size comparable to the kept one (kept
            included; elongated ones such as burnt-in scale bars are not counted).
        touches_border: the kept object touches the image border.
        focus: sharpness of the kept object in [0, 1] (see :func:`edge_focus`).
        found: an object was kept.
        n_particles: other objects (debris, fragments, a second spheroid) of at least
            ``particle_area_fraction`` of the image, significant or not.
        second_object: area of the largest other compact object relative to the kept one
            (0 when there is none).
        edge_width: width of the kept object's edge in analysis pixels (see
            :func:`edge_width`; 0 when nothing was kept).
    """

    mask: np.ndarray
    foreground: np.ndarray
    scale: float
    n_objects: int
    touches_border: bool
    focus: float
    found: bool
    n_particles: int = 0
    second_object: float = 0.0
    edge_width: float = 0.0

    def __post_init__(self) -> None:
        for name in ("mask", "foreground"):
            array = np.asarray(getattr(self, name), dtype=bool)
            array.setflags(write=False)
            object.__setattr__(self, name, array)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def texture_map(image: np.ndarray, sigma: float) -> np.ndarray:
    """Local standard deviation in a Gaussian window of ``sigma`` pixels."""
    mean = _blur(image, sigma)
    mean_sq = _blur(image * image, sigma)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def _disk(radius: int) -> np.ndarray:
    size = 2 * radius + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


class ClassicalSegmenter:
    """Texture threshold, hole filling and size filtering; keeps the object nearest the centre.

    Bright-field spheroids are textured and rimmed whether they look darker or brighter than
    the background, so the local standard deviation separates them from the smooth
    background without assuming a polarity.
    """

    name = "classical"

    def __init__(self, config: ClassicalConfig | None = None) -> None:
        self.config = config or ClassicalConfig()
        cfg = self.config  # the low-resolution pass of :meth:`_rescue`
        self._coarse = (ClassicalSegmenter(replace(cfg, max_side=cfg.rescue_side, rescue_side=0))
                        if cfg.rescue_side else None)

    def segment(self, pixels: np.ndarray) -> SegmentationOutput:
        """Segment one 2-D frame of any dtype (see :func:`engines.preprocess.analysis_image`)."""
        image, scale = analysis_image(pixels, self.config.max_side)
        out = describe_foreground(image, self.objects(image), scale, self.config)
        if self.config.rescue_side and (
                not out.found or out.mask.mean() < self.config.rescue_area):
            return self._rescue(image, scale, out) or out
        return out

    def _rescue(self, image: np.ndarray, scale: float, fine: SegmentationOutput
                ) -> SegmentationOutput | None:
        """The frame's object found at ``rescue_side`` (a spheroid far out of focus), if any."""
        cfg = self.config
        if max(image.shape) <= 2 * cfg.rescue_side:
            return None
        size, _ = analysis_size(image.shape, cfg.rescue_side)
        if self._coarse is None:
            return None
        small = self._coarse.foreground(resize_area(image, size))
        found = cv2.resize(small.astype(np.uint8), (image.shape[1], image.shape[0]),
                           interpolation=cv2.INTER_NEAREST) > 0
        out = describe_foreground(image, found, scale, cfg)
        fine_area = float(fine.mask.mean()) if fine.found else 0.0
        if not out.found or out.mask.mean() < max(cfg.rescue_area, 4.0 * fine_area):
            return None
        return out

    def foreground(self, image: np.ndarray) -> np.ndarray:
        """Every significant object of a normalised analysis image, holes filled."""
        return _remove_small(self.objects(image), self.config.min_area_fraction * image.size)

    def objects(self, image: np.ndarray) -> np.ndarray:
        """Every object of a normalised analysis image, holes filled, debris included."""
        cfg = self.config
        side = max(image.shape)
        sigma = max(1.0, cfg.texture_sigma * side)
        texture = texture_map(image, sigma)
        floor = cfg.floor_factor * float(np.percentile(texture[::2, ::2], cfg.floor_percentile))
        threshold = max(_otsu(texture), floor)
        if threshold <= 0:
            return np.zeros(image.shape, bool)
        radius = max(1, round(cfg.close_radius * side))
        closed = cv2.morphologyEx(
            (texture > threshold).astype(np.uint8), cv2.MORPH_CLOSE, _disk(radius)
        )
        filled = fill_holes(closed)
        shrink = round(cfg.shrink * sigma)
        if shrink > 0:
            filled = cv2.erode(filled, _disk(shrink))
        return filled.astype(bool)


def describe_foreground(image: np.ndarray, foreground: np.ndarray, scale: float,
                        config: ClassicalConfig | None = None) -> SegmentationOutput:
    """Keep the object nearest the centre of a foreground mask; count, border and focus.

    Shared by the classical segmenter and the neural segmentation engine, so both report
    ``n_objects``, ``touches_border``, ``focus`` and the debris measures the same way.
    ``image`` is the normalised analysis image the foreground belongs to; ``foreground``
    holds every object found, debris included (objects under ``min_area_fraction`` are
    counted as particles only).
    """
    cfg = config or ClassicalConfig()
    everything = foreground
    foreground = _remove_small(everything, cfg.min_area_fraction * image.size)
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        foreground.astype(np.uint8), connectivity=8
    )
    if count <= 1:
        empty = np.zeros(image.shape, bool)
        return SegmentationOutput(empty, empty, scale, 0, False, 0.0, False)
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    kept = _nearest_centre(centroids[1:], areas, image.shape)
    mask = labels == kept + 1
    sides = stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].astype(np.float64)
    compact = sides.max(axis=1) <= cfg.compact_elongation * sides.min(axis=1)
    compact[kept] = True  # a scale bar beside a small spheroid is not a second object
    comparable = (areas >= cfg.comparable_fraction * areas[kept]) & compact
    band = cfg.focus_band * max(image.shape)
    n_particles, second = _others(everything, mask, cfg)
    return SegmentationOutput(
        mask=mask,
        foreground=foreground,
        scale=scale,
        n_objects=int(comparable.sum()),
        touches_border=_touches_border(mask),
        focus=edge_focus(image, mask, band),
        found=True,
        n_particles=n_particles,
        second_object=second,
        edge_width=edge_width(image, mask),
    )


def _others(everything: np.ndarray, kept: np.ndarray, cfg: ClassicalConfig
            ) -> tuple[int, float]:
    """``(particles, largest compact other object / kept area)`` beside the kept object."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        everything.astype(np.uint8), connectivity=8)
    if count <= 1:
        return 0, 0.0
    own = np.unique(labels[kept])
    areas = stats[1:, cv2.CC_STAT_AREA].astype(np.float64)
    other = np.ones(count - 1, bool)
    other[own[own > 0] - 1] = False
    other &= areas >= cfg.particle_area_fraction * everything.size
    sides = stats[1:, [cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT]].astype(np.float64)
    compact = sides.max(axis=1) <= cfg.compact_elongation * sides.min(axis=1)
    largest = areas[other & compact].max(initial=0.0)
    return int(other.sum()), float(largest / max(float(kept.sum()), 1.0))


def remove_small(binary: np.ndarray, min_area_fraction: float) -> np.ndarray:
    """Drop objects smaller than ``min_area_fraction`` of the image (debris)."""
    return _remove_small(binary, min_area_fraction * binary.size)


def _nearest_centre(centroids: np.ndarray, areas: np.ndarray, shape: tuple[int, ...]) -> int:
    """Index of the object whose edge is nearest the image centre (centroid distance minus
    equivalent radius), so a large spheroid beats a speck of debris beside the centre.

    ``centroids`` are (x, y) pairs as OpenCV returns them.
    """
    middle = np.array([shape[1] - 1, shape[0] - 1]) / 2.0
    distance = np.hypot(*(centroids - middle).T)
    return int(np.argmin(distance - np.sqrt(areas / np.pi)))


def fill_holes(binary: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros_like(binary)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled


def _otsu(values: np.ndarray) -> float:
    scaled = np.clip(values / max(float(values.max()), 1e-12) * 255.0, 0, 255).astype(np.uint8)
    level, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(level) / 255.0 * float(values.max())


def _remove_small(binary: np.ndarray, min_area: float) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        binary.astype(np.uint8), connectivity=8
    )
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _gradient_sum(image: np.ndarray, region: np.ndarray) -> float:
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.hypot(gx[region], gy[region]).sum())


def edge_width(image: np.ndarray, mask: np.ndarray) -> float:
    """Width (Gaussian sigma, analysis pixels) of the intensity step at an object's edge.

    A step of contrast ``C`` blurred to sigma ``s`` has a peak gradient ``C / (sqrt(2 pi) s)``,
    so ``s = C / (sqrt(2 pi) * peak)``: ``C`` from the medians of a ring just outside and just
    inside the object, the peak as the median over the outline of the largest gradient within
    a band of 30% of the object's radius (gradient after a 1-pixel smoothing against noise).
    Unlike :func:`edge_focus` it does not read noise as sharpness. Sharp simulator renders
    measure 0.7-1.4, the real crops 0-2.7, spheroids defocused by 25-60 um 6-9.
    """
    m = mask.astype(np.uint8)
    area = float(m.sum())
    if area < 9:
        return 0.0
    rb = int(max(3, round(0.3 * np.sqrt(area / np.pi))))
    ys, xs = np.nonzero(m)
    pad = 2 * rb + 2
    y0, y1 = max(0, ys.min() - pad), min(m.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(m.shape[1], xs.max() + pad + 1)
    m, crop = m[y0:y1, x0:x1], image[y0:y1, x0:x1].astype(np.float32)
    smooth = _blur(crop, 1.0)
    gradient = np.hypot(cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3),
                        cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)) / 8.0
    outline = (m > 0) & (cv2.erode(m, _disk(1)) == 0)
    # largest gradient within rb of each outline pixel (a square window: separable, fast)
    window = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * rb + 1, 2 * rb + 1))
    peak = float(np.median(cv2.dilate(gradient, window)[outline]))
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((m == 0).astype(np.uint8), cv2.DIST_L2, 3)
    outer = (outside > rb) & (outside <= 2 * rb)
    inner = (inside > rb) & (inside <= 2 * rb)
    if inner.sum() < 5:
        inner = m > 0
    if not outer.any() or peak <= 1e-9:
        return 0.0
    contrast = abs(float(np.median(crop[outer])) - float(np.median(crop[inner])))
    return contrast / (np.sqrt(2.0 * np.pi) * peak)


def edge_focus(image: np.ndarray, mask: np.ndarray, band: float) -> float:
    """Sharpness of an object: the share of its gradient lost by a 1-pixel Gaussian re-blur.

    Measured over the object and a band of ``band`` pixels around its edge. A sharp object
    loses much of its gradient energy to the re-blur, an already blurred one little, so the
    score (in [0, 1]) is independent of contrast. On the real crops: sharp 0.33-0.55, blurred
    with a Gaussian of 1 pixel 0.17-0.25, of 1.5 pixels 0.11-0.16, of 3 pixels 0.04-0.06.
    """
    region = cv2.dilate(mask.astype(np.uint8), _disk(max(1, round(band)))) > 0
    if region.sum() < 9:
        return 0.0
    sharp = _gradient_sum(image, region)
    if sharp <= 1e-9:
        return 0.0
    reblurred = _gradient_sum(_blur(image, 1.0), region)
    return float(np.clip(1.0 - reblurred / sharp, 0.0, 1.0))
