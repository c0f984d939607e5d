"""Plate plans and the virtual plate microscope (real UniMMCore, config file, Python devices)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_app.core.plate import load_plate_protocol
from edge_app.core.wells import plate_wells
from edge_app.sources.mm.plate_plan import make_plate_plan, plate_geometry
from edge_app.sources.sim.virtual_scope import CAMERA, SHUTTER, XY_STAGE, VirtualPlateMicroscope
from engines.classical import ClassicalSegmenter
from tests.support import write_plate_csv

pytestmark = pytest.mark.usefixtures("mm_env")


@pytest.mark.parametrize(("n", "a1", "last", "last_centre"), [
    (96, (14380.0, 11240.0), "H12", (14380.0 + 11 * 9000, 11240.0 + 7 * 9000)),
    (384, (12130.0, 8990.0), "P24", (12130.0 + 23 * 4500, 8990.0 + 15 * 4500)),
])
def test_sbs_geometry_round_trips_every_well_and_site(n, a1, last, last_centre):
    geometry = plate_geometry(n)
    assert geometry.well_centre("A01") == a1
    assert geometry.well_centre(last) == pytest.approx(last_centre)
    for sites in (1, 2, 4):
        for well in plate_wells(n):
            cx, cy = geometry.well_centre(well)
            for site in range(sites):
                dx, dy = geometry.site_offset(site, sites)
                assert geometry.locate(cx + dx, cy + dy, sites) == (well, site)
    assert geometry.locate(0.0, 0.0) is None


def test_unknown_plate_size_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"valid: \[96, 384\]"):
        plate_geometry(24)


def test_plan_orders_time_then_positions_with_hcs_labels():
    plan = make_plate_plan(96, wells=["B01", "A2"], sites=2, timepoints=3, hours=[24, 48, 72])
    assert plan.wells == ("B1", "A2") and plan.n_frames == 12
    events = list(plan.to_mda_sequence())
    assert [(e.pos_name, e.index["t"]) for e in events] == plan.expected()
    assert events[0].pos_name == "B1-Site_0" and events[3].pos_name == "A2-Site_1"
    assert (events[0].x_pos, events[0].y_pos) == pytest.approx(
        np.add(plan.geometry.well_centre("B1"), plan.geometry.site_offset(0, 2)))
    pyc = plan.to_pycromanager_events()
    assert pyc[5] == {"axes": {"time": 1, "position": "B1-Site_1"},
                      "x": events[5].x_pos, "y": events[5].y_pos}
    assert plan.hours_at(2) == 72.0 and plan.hours_at(3) is None
    with pytest.raises(ValueError, match="2 hours given for 3 time points"):
        make_plate_plan(96, wells=["A1"], timepoints=3, hours=[1, 2])


def _snap_at(core, well: str, site: int = 0, sites: int = 1) -> np.ndarray:
    geometry = plate_geometry(96)
    cx, cy = geometry.well_centre(well)
    dx, dy = geometry.site_offset(site, sites)
    core.setXYPosition(cx + dx, cy + dy)
    core.snapImage()
    return np.array(core.getImage())


def test_config_file_loads_python_devices_and_snaps_the_well_under_the_objective():
    plan = make_plate_plan(96, wells=["A1", "B3"], sites=2, timepoints=3, hours=[24, 96, 240])
    scope = VirtualPlateMicroscope(plan, plate_id="P1", seed=3, frame_size=160)
    core = scope.open()
    try:
        assert scope.config_path is not None and "#py pyDevice" in scope.config_path.read_text()
        assert (core.getCameraDevice(), core.getXYStageDevice(), core.getShutterDevice()) == (
            CAMERA, XY_STAGE, SHUTTER)
        a1 = [_snap_at(core, "A1", 0, 2) for _ in range(3)]
        b3 = _snap_at(core, "B3", 1, 2)
        assert a1[0].shape == (160, 160) and a1[0].dtype == np.uint16
        assert not np.array_equal(a1[0], b3)
        assert scope.scene.visits[("A1", 0)] == 3 and scope.scene.visits[("B3", 1)] == 1
        segmenter = ClassicalSegmenter()
        areas = [int(segmenter.segment(image).mask.astype(bool).sum()) for image in a1]
        assert areas[0] < areas[1] < areas[2], areas  # the spheroid grows over the time-lapse
    finally:
        del core
        scope.close()
    assert scope.core is None and not scope.config_path.exists()


def test_same_seed_same_frames_and_plate_map_labels_change_the_spheroid(tmp_path):
    plan = make_plate_plan(96, wells=["C4"])
    csv = write_plate_csv(tmp_path / "plate.csv", ["C4"], cell_line="SKOV3")
    frames = []
    for plate in (None, None, load_plate_protocol(csv)):
        scope = VirtualPlateMicroscope(plan, plate=plate, plate_id="P1", frame_size=128)
        core = scope.open()
        try:
            frames.append(_snap_at(core, "C4"))
        finally:
            del core
            scope.close()
    assert np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[0], frames[2])


def test_an_unknown_scene_name_fails_at_configuration(tmp_path):
    from edge_app.sources.mm.pymmcore_source import create_core
    from edge_app.sources.sim.virtual_scope import write_scope_config

    cfg = write_scope_config(tmp_path / "bad.cfg", "no-such-scene")
    with pytest.raises(RuntimeError, match="no-such-scene"):
        create_core(cfg)
