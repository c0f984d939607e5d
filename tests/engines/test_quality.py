import cv2
import numpy as np
import pytest

from engines.classical import ClassicalSegmenter
from engines.quality import (
    NO_SPHEROID,
    OUT_OF_FOCUS,
    REASONS,
    SEVERAL_OBJECTS,
    TOUCHES_BORDER,
    QualityConfig,
    assess,
)
from engines.realdata import load_crops, real_data_root


@pytest.fixture(scope="module")
def segmenter():
    return ClassicalSegmenter()


def test_good_spheroid_passes(segmenter, draw):
    assert assess(segmenter.segment(draw())) == ()


def test_empty_frame_is_no_spheroid_only(segmenter):
    assert assess(segmenter.segment(np.full((256, 256), 900, np.uint16))) == (NO_SPHEROID,)


def test_tiny_object_is_no_spheroid(segmenter, draw):
    seg = segmenter.segment(draw(objects=((256, 256, 12, 12),)))
    assert seg.found and assess(seg) == (NO_SPHEROID,)


def test_several_objects_and_border(segmenter, draw):
    two = segmenter.segment(draw(objects=((256, 256, 60, 60), (90, 90, 50, 50))))
    assert assess(two) == (SEVERAL_OBJECTS,)
    cut = segmenter.segment(draw(objects=((256, 20, 100, 100),)))
    assert assess(cut) == (TOUCHES_BORDER,)
    assert assess(cut, QualityConfig(flag_border=False)) == ()


def test_blurred_frame_is_out_of_focus(segmenter, draw):
    assert assess(segmenter.segment(draw(blur=3.0))) == (OUT_OF_FOCUS,)


def test_reasons_are_the_result_quality_values():
    assert REASONS == ("no_spheroid", "several_objects", "touches_border", "out_of_focus")


@pytest.mark.skipif(real_data_root() is None, reason="shared/data/real not present")
def test_focus_threshold_separates_sharp_and_blurred_real_crops(segmenter):
    sharp_flagged = blurred_passed = 0
    for _, crop in load_crops():
        sharp = assess(segmenter.segment(crop))
        blurred = assess(segmenter.segment(cv2.GaussianBlur(crop, (0, 0), 1.5)))
        sharp_flagged += OUT_OF_FOCUS in sharp
        blurred_passed += not ({OUT_OF_FOCUS, NO_SPHEROID} & set(blurred))
    assert sharp_flagged == 0
    assert blurred_passed == 0


def test_strong_defocus_is_out_of_focus_not_empty_and_sharp_renders_pass():
    """Defocus of 25-60 um (the plate simulator's) widens the edge or leaves only a blob the
    low-resolution rescue finds; sharp renders and empty wells stay what they are."""
    import numpy as np

    from edge_app.simulation import SpheroidRenderer, Vocabulary
    from edge_app.simulation.renderer import Artefacts, frame_shape

    vocab, segmenter = Vocabulary.default(), ClassicalSegmenter()
    renderer, rng = SpheroidRenderer(vocab), np.random.default_rng(11)
    found: dict[str, list[tuple[str, ...]]] = {"clean": [], "defocus": [], "empty": []}
    for i in range(10):
        row = vocab.sample_row(rng)
        shape = frame_shape(row, vocab, 512)
        for kind, artefacts in (("clean", Artefacts()),
                                ("defocus", Artefacts(defocus_um=float(rng.uniform(25, 60)))),
                                ("empty", Artefacts(empty=True, debris=2))):
            image = renderer.render(row, seed=100 + i, shape=shape, artefacts=artefacts).image
            found[kind].append(assess(segmenter.segment(image)))
    assert all(OUT_OF_FOCUS not in r for r in found["clean"])
    assert sum(OUT_OF_FOCUS in r for r in found["defocus"]) >= 7, found["defocus"]
    assert all(r == (NO_SPHEROID,) for r in found["empty"])
