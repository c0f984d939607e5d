"""Alert text, evidence shape, intensity statistics, and the IPP adapter."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.alerts.conformal import IPPFrameOutput, run_ipp
from edge_app.alerts.features import APPEARANCE_FEATURES, appearance, frame_vector
from edge_app.alerts.messages import FrameEvidence, evidence_dict, protocol_message, well_ranges


def test_well_ranges_join_runs_within_a_row():
    wells = [f"B{c}" for c in range(1, 13)] + ["C3", "C5", "C4"]
    assert well_ranges(wells) == "B1–B12, C3–C5"
    many = [f"{r}1" for r in "ABCDEFGH"]
    assert well_ranges(many, limit=3) == "A1, B1, C1, … (8 wells)"


def test_message_says_what_the_well_looks_like_and_why():
    text = protocol_message("C10", "culture_medium", "DMEMLG", 40.2, 3, ["replicate", "ipp"],
                            "RPMI", [f"B{c}" for c in range(1, 13)], None, ["C1", "C2"])
    assert text == ("C10 culture medium: looks like the RPMI wells (B1–B12), plate map says "
                    "DMEMLG; evidence 40× over 3 frames (replicate and IPP)")
    engine_only = protocol_message("A1", "cell_line", "MCF7", 12, 1, ["ipp"], None, (),
                                   "HCT116", ["A2"])
    assert "the IPP engine sees HCT116" in engine_only and "1 frame (IPP)" in engine_only


def test_evidence_has_the_shape_the_dashboard_reads():
    frames = [FrameEvidence("f1.tif", 0.031234, 0.2, 5.1), FrameEvidence("f2.tif", None, 0.5, 1)]
    ev = evidence_dict(40.2, frames, ["replicate", "ipp"], "RPMI", ["B2", "B1"], ["C2", "C1"])
    assert ev == {
        "e_value": 40.2, "n_frames": 2, "sources": ["replicate", "ipp"],
        "looks_like": {"value": "RPMI", "wells": ["B1", "B2"]}, "own_group": ["C1", "C2"],
        "frames": [{"frame_id": None, "uri": "f1.tif", "p_replicate": 0.0312, "p_ipp": 0.2,
                    "e": 5.1},
                   {"frame_id": None, "uri": "f2.tif", "p_replicate": None, "p_ipp": 0.5,
                    "e": 1}]}


def _disk(size=256, radius=40, inside=400, outside=1000, scale=1):
    yy, xx = np.mgrid[:size, :size]
    mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < radius**2
    pixels = np.where(mask, inside, outside).astype(np.uint16)
    return np.kron(pixels, np.ones((scale, scale), np.uint16)), mask


@pytest.mark.parametrize("scale", [1, 4])
def test_appearance_measures_the_object_against_the_background(scale):
    pixels, mask = _disk(scale=scale)
    stats = appearance(pixels, mask)
    assert set(stats) == set(APPEARANCE_FEATURES)
    assert stats["contrast"] == pytest.approx(0.6)
    assert stats["dark_fraction"] == pytest.approx(1.0)
    assert stats["texture"] == pytest.approx(0.0) and stats["inner_cv"] == pytest.approx(0.0)
    assert appearance(pixels, None) is None
    assert appearance(pixels, np.zeros_like(mask)) is None


def test_appearance_handles_masks_that_do_not_tile_the_frame():
    pixels, mask = _disk(size=250)
    small = mask[::3, ::3]  # 84 x 84 on a 250 x 250 frame
    # nearest-neighbour sampling: a few rim pixels fall outside the disk
    assert appearance(pixels, small)["contrast"] == pytest.approx(0.6, abs=0.03)


def test_frame_vector_needs_a_shape():
    class Result:
        shape = None

    assert frame_vector(Result()) is None


class _Engine:
    def predict_batch(self, pixels, shapes):
        return [{"cell_line": {"A": 1.0}} for _ in pixels]


class _NewEngine(_Engine):
    def analyse_batch(self, pixels, shapes):
        from types import SimpleNamespace

        return [SimpleNamespace(probabilities={"cell_line": {"A": 1.0}},
                                embedding=np.ones(4, np.float32), ood_score=3.5,
                                in_domain=False) for _ in pixels]


def test_run_ipp_reads_either_engine_contract():
    old = run_ipp(_Engine(), [np.zeros((4, 4))], [None])
    assert old == [IPPFrameOutput({"cell_line": {"A": 1.0}})]
    (new,) = run_ipp(_NewEngine(), [np.zeros((4, 4))], [None])
    assert new.embedding == (1.0, 1.0, 1.0, 1.0) and new.ood_score == 3.5
    assert new.in_domain is False


class _BundleWithoutOOD(_Engine):
    def analyse_batch(self, pixels, shapes):
        from types import SimpleNamespace

        return [SimpleNamespace(probabilities={"cell_line": {"A": 1.0}},
                                embedding=np.zeros(0, np.float32), ood_score=float("nan"),
                                in_domain=None) for _ in pixels]


def test_run_ipp_maps_missing_embedding_and_ood_to_none():
    (out,) = run_ipp(_BundleWithoutOOD(), [np.zeros((4, 4))], [None])
    assert out.embedding is None and out.ood_score is None and out.in_domain is None
