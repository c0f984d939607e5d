"""The quality, growth and ordinal-tolerance settings reach the analyser and the rules."""

from __future__ import annotations

from edge_app.pipeline.compose import build_pipeline
from edge_app.settings import load_settings
from edge_app.sources.sim.replay import ReplaySource
from edge_app.store import StoreWriter
from engines.quality import QualityConfig


def _pipeline(tmp_path, **sections):
    settings = load_settings(None, segmentation={"backend": "classical"},
                             engines={"ipp": "off", "forecast": "off"}, **sections)
    writer = StoreWriter(tmp_path / "s.sqlite")
    try:
        return build_pipeline(settings, writer, source=ReplaySource([]))
    finally:
        writer.close()


def test_defaults_are_the_documented_ones(tmp_path):
    pipeline = _pipeline(tmp_path)
    assert pipeline.analyser.quality == QualityConfig()
    rules = {r.name: r for r in pipeline.rules}
    assert (rules["growth"].max_area_change, rules["growth"].min_ssim) == (0.35, 0.5)
    assert (rules["protocol"].tolerance.density_fold, rules["protocol"].tolerance.hours) == (
        1.5, 12.0)


def test_settings_change_the_thresholds(tmp_path):
    pipeline = _pipeline(tmp_path, quality={"min_focus": 0.1, "max_particles": 9},
                         growth={"max_area_change": 0.5, "min_ssim": 0.3},
                         tolerance={"density_fold": 2.0, "hours": 6.0})
    assert pipeline.analyser.quality.min_focus == 0.1
    assert pipeline.analyser.quality.max_particles == 9
    rules = {r.name: r for r in pipeline.rules}
    assert (rules["growth"].max_area_change, rules["growth"].min_ssim) == (0.5, 0.3)
    assert (rules["protocol"].tolerance.density_fold, rules["protocol"].tolerance.hours) == (
        2.0, 6.0)
