"""The Qt binding keeps Python's reference counts across signal emits.

PySide6 6.12.0 drops a reference to ``True`` on every ``Signal.emit()``; a dashboard that
runs for minutes (a result relayed per frame, a redraw per snapshot) then aborts with
"bool_dealloc: deallocating True or False". pyproject's ``ui`` extra excludes that release;
this test fails on a binding with the bug instead of a crash an hour into a run.
"""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QObject, Signal

pytestmark = pytest.mark.ui


class _Emitter(QObject):
    value = Signal(object)


def test_signal_emit_keeps_reference_counts(qtbot):
    emitter = _Emitter()
    got = []
    emitter.value.connect(got.append)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for i in range(200):
        emitter.value.emit(i)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert len(got) == 200
    assert abs(after[0] - before[0]) < 20 and abs(after[1] - before[1]) < 20, (
        f"refcounts of True/None moved by {after[0] - before[0]}/{after[1] - before[1]} over "
        "200 emits: this Qt binding leaks (PySide6 6.12.0); install another release")
