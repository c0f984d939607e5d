"""The simulated acquisition's stop condition: every frame handled, or no progress for long."""

from __future__ import annotations

from types import SimpleNamespace

from edge_app.bench.acquisition import SimulatedAcquisition
from edge_app.simulation import PlateSimulation


def _status(processed, failed=0, duplicates=0):
    return SimpleNamespace(processed=processed, failed=failed, duplicates=duplicates)


def test_done_when_every_frame_is_handled_or_progress_stops(tmp_path):
    now = [0.0]
    sim = PlateSimulation(hours=(24.0, 48.0), sites=2)
    acq = SimulatedAcquisition(tmp_path, {"A1": {}, "A2": {}}, sim, idle_s=60.0,
                               clock=lambda: now[0])
    assert acq.n_frames == 8
    assert not acq.done(_status(8))  # the microscope has not finished writing
    acq.finished.set()
    assert acq.done(_status(5, failed=2, duplicates=1))
    assert not acq.done(_status(6))
    now[0] = 59.0
    assert not acq.done(_status(6))
    now[0] = 61.0
    assert acq.done(_status(6))  # a frame the watcher never saw must not hang the bench
