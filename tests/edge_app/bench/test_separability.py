"""Separability: chance for one condition against itself, near 1 for a visible change."""

from __future__ import annotations

from edge_app.bench.separability import ConditionPair, SeparabilityCache, measure

BASE = {"cell_line": "HCT116", "culture_medium": "RPMI", "formation_method": "LiquidOverlay-ULA",
        "seeding_density": "2000", "microscope": "OperaPhenix", "magnification": "10X"}


def test_same_condition_is_not_separable_and_a_tenfold_density_is():
    same = measure(ConditionPair.of(BASE, "cell_line", "HCT116", (24.0, 48.0), 128), n=60)
    dense = measure(ConditionPair.of(BASE, "seeding_density", "10000", (24.0, 48.0), 128), n=60)
    assert same < 0.8  # chance is 0.5; 36 held-out frames leave a wide margin
    assert dense > 0.9


def test_cache_is_reused_per_condition_pair(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("edge_app.bench.separability.measure",
                        lambda pair, n, seed: calls.append(pair) or 0.75)
    path = tmp_path / "sep.json"
    pair = ConditionPair.of(BASE, "cell_line", "MCF7", (24.0,), 128)
    assert SeparabilityCache(path, n=50).get(pair) == 0.75
    assert SeparabilityCache(path, n=50).get(pair) == 0.75  # read back from the file
    assert len(calls) == 1
    SeparabilityCache(path, n=80).get(pair)  # another sample size is another entry
    assert len(calls) == 2
