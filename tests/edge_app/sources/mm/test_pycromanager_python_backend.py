"""pycromanager's real Python backend (AcqEngPy) driving the virtual plate microscope.

The shim of micromanager.md §1.4 (pinned pycromanager 1.0.2, mmpycorex 0.3.16,
pymmcore-plus 0.18.1): a per-test timeout, because engine failures show up as hangs, and
explicit teardown (engine singleton dropped, devices unloaded, core collected).
"""

from __future__ import annotations

import gc
from importlib import metadata

import pytest

from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.sources.mm.plate_plan import make_plate_plan
from edge_app.sources.sim.virtual_scope import VirtualPlateMicroscope
from edge_app.store import StoreWriter

pycromanager = pytest.importorskip("pycromanager")
pytestmark = [pytest.mark.usefixtures("mm_env"), pytest.mark.timeout(120)]


@pytest.fixture
def python_backend():
    """Build a PythonBackend on the virtual scope; always leave pycromanager clean."""
    from mmpycorex import launcher
    from pycromanager.acquisition.acq_eng_py.internal.engine import Engine

    from edge_app.sources.mm.pycromanager_source import PythonBackend

    assert metadata.version("pycromanager") == "1.0.2"
    assert metadata.version("pymmcore-plus") == "0.18.1"
    backends: list[PythonBackend] = []

    def make(plan, **scope_options):
        backends.append(PythonBackend(VirtualPlateMicroscope(plan, **scope_options)))
        return backends[-1]

    yield make
    for backend in backends:
        if backend.core is not None:
            backend.stop()
    assert Engine.get_instance() is None and not launcher._PYMMCORES
    gc.collect()


def test_plate_through_python_backend_into_the_store_and_ndtiff(tmp_path, python_backend):
    from ndstorage import Dataset

    from edge_app.sources.mm.pycromanager_source import PycromanagerSource

    plan = make_plate_plan(96, wells=["A1", "A2", "B1", "B2", "C5", "H12"], sites=2,
                           timepoints=2, hours=[24.0, 48.0])
    backend = python_backend(plan, plate_id="PB", frame_size=96)
    source = PycromanagerSource(plan, backend=backend, directory=tmp_path / "acq",
                                acq_name="plate", plate_id="PB")
    writer = StoreWriter(tmp_path / "run.sqlite")
    try:
        pipeline = build_pipeline(load_settings(None), writer, source=source)
        pipeline.start()
        try:
            assert pipeline.wait(timeout=90)
        finally:
            pipeline.stop()
        assert source.error is None and backend.core is None  # backend stopped on close
        rows = writer.reader().db.execute(
            "select well, site, hours, status, count(*) from frames group by 1, 2, 3, 4"
        ).fetchall()
    finally:
        writer.close()
    expected = {(w, s, h) for w in plan.wells for s in (0, 1) for h in (24.0, 48.0)}
    assert {(w, s, h) for w, s, h, _, _ in rows} == expected
    assert all(status == "processed" and n == 1 for *_, status, n in rows)
    counts = source.acquisition_counts()
    assert (counts.expected, counts.received, counts.delivered) == (24, 24, 24)
    folders = sorted((tmp_path / "acq").iterdir())
    assert len(folders) == 1
    dataset = Dataset(str(folders[0]))
    try:
        assert len(dataset.index) == 24  # Micro-Manager's own copy is saved as well
    finally:
        dataset.close()


def test_a_second_acquisition_in_the_same_process_works(python_backend):
    from edge_app.sources.mm.pycromanager_source import PycromanagerSource

    plan = make_plate_plan(96, wells=["D4"], sites=1, timepoints=3, hours=[1.0, 2.0, 3.0])
    for run in range(2):
        items: list = []
        source = PycromanagerSource(plan, backend=python_backend(plan, frame_size=64))
        source.open(items.append)
        try:
            assert source.wait(60), f"run {run} hung"
        finally:
            source.close(10)
        assert sorted(i.meta.hours for i in items) == [1.0, 2.0, 3.0]
