"""The plate's out-of-domain notice: in-domain plates never, a shifted microscope once."""

from __future__ import annotations

import pytest

from edge_app.alerts.notices import DomainMonitor


def _stream(flag_every: int, n: int) -> list[bool]:
    """``in_domain`` of ``n`` frames, every ``flag_every``-th one out of domain."""
    return [i % flag_every != flag_every - 1 for i in range(n)]


@pytest.mark.parametrize("flag_every", [50, 20, 10])  # 2%, 5%, 10% flagged: in-domain plates
def test_an_in_domain_plate_is_never_muted(flag_every):
    monitor = DomainMonitor()
    assert not any(monitor.observe(f) for f in _stream(flag_every, 576))
    assert not monitor.muted


@pytest.mark.parametrize("flag_every", [3, 2])  # a third, a half flagged: another microscope
def test_a_shifted_plate_is_muted_once(flag_every):
    monitor = DomainMonitor()
    muted = [monitor.observe(f) for f in _stream(flag_every, 576)]
    assert sum(muted) == 1 and monitor.muted
    assert muted.index(True) < 20  # early in the plate, not at its end


def test_frames_without_an_ood_score_do_not_count():
    monitor = DomainMonitor()
    assert not any(monitor.observe(None) for _ in range(50))
    assert monitor.n_known == 0
    assert not any(monitor.observe(False) for _ in range(7))  # under min_frames
    assert monitor.observe(False)
