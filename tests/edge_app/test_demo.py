"""The demo images a plate of replicate groups and ends with the strict scorer's figures."""

from __future__ import annotations

from typer.testing import CliRunner

from edge_app.bench.layouts import plate_wells
from edge_app.cli import app
from edge_app.demo import DemoPlan, demo_layout

runner = CliRunner()


def test_demo_plate_is_four_conditions_of_six_wells():
    layout = demo_layout(DemoPlan())
    assert sorted(map(len, layout.groups)) == [6, 6, 6, 6]
    assert sorted(layout.wells) == sorted(plate_wells(24))
    assert len({layout.wells[g[0]]["cell_line"] + layout.wells[g[0]]["culture_medium"]
                + layout.wells[g[0]]["formation_method"] + layout.wells[g[0]]["seeding_density"]
                for g in layout.groups}) == 4


def test_demo_prints_strict_rates_and_fails_an_unmet_threshold(tmp_path):
    result = runner.invoke(app, ["demo", "--headless", "--out", str(tmp_path),
                                 "--min-recall", "empty_well=1.5"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "strictly (well, kind, label, value)" in out
    for kind in ("swapped_cell_line", "wrong_medium", "empty_well", "debris", "out_of_focus"):
        assert f"| {kind} | all | 1 |" in out
    assert "| per clean well |" in out and "| per well-frame |" in out
    assert "below threshold: recall of empty_well" in result.stderr
