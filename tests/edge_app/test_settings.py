"""The settings tree: defaults < TOML < SENTINEL_* variables < flags, and readable errors."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from edge_app.settings import (
    SETTINGS_FILE_NAME,
    SentinelSettings,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """No SENTINEL_* variable of the shell running the tests leaks in."""
    for name in list(os.environ):
        if name.upper().startswith("SENTINEL_"):
            monkeypatch.delenv(name)


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    settings = load_settings()
    assert settings == SentinelSettings()
    assert settings.source.kind == "folder"
    assert settings.source.folder is None
    assert settings.source.polling is False
    assert settings.source.settle_s == 0.5
    assert settings.source.rescan_s == 5.0
    assert settings.source.name_pattern is None
    assert (settings.pipeline.queue_size, settings.pipeline.max_batch) == (64, 8)
    assert settings.pipeline.workers == 1
    assert settings.segmentation.backend == "auto"
    assert (settings.engines.ipp, settings.engines.forecast) == ("auto", "auto")
    assert settings.store.path == Path("sentinel.sqlite")
    assert settings.alerts.rules == ("quality", "protocol", "growth")
    assert settings.alerts.error_rate == 0.01
    assert settings.alerts.persist_frames == 2
    assert settings.log.level == "INFO"


def test_toml_file(tmp_path):
    path = write_toml(
        tmp_path / "sentinel.toml",
        """
        [source]
        folder = "images/plate1"
        polling = true
        name_pattern = "slimia"

        [pipeline]
        queue_size = 16

        [log]
        level = "debug"
        """,
    )
    settings = load_settings(path)
    assert settings.source.folder == Path("images/plate1")
    assert settings.source.polling is True
    assert settings.source.name_pattern == "slimia"
    assert settings.pipeline.queue_size == 16
    assert settings.pipeline.max_batch == 8  # untouched keys keep their defaults
    assert settings.log.level == "DEBUG"


def test_environment_beats_toml_with_nested_delimiter(tmp_path, monkeypatch):
    path = write_toml(tmp_path / "s.toml", "[pipeline]\nqueue_size = 16\nmax_batch = 4\n")
    monkeypatch.setenv("SENTINEL_PIPELINE__QUEUE_SIZE", "8")
    monkeypatch.setenv("sentinel_alerts__rules", "[]")
    monkeypatch.setenv("SENTINEL_REAL_DATA", "not a setting, ignored")
    settings = load_settings(path)
    assert settings.pipeline.queue_size == 8
    assert settings.pipeline.max_batch == 4
    assert settings.alerts.rules == ()


def test_flags_win_over_environment_and_toml(tmp_path, monkeypatch):
    path = write_toml(tmp_path / "s.toml", "[pipeline]\nqueue_size = 16\nworkers = 2\n")
    monkeypatch.setenv("SENTINEL_PIPELINE__QUEUE_SIZE", "8")
    monkeypatch.setenv("SENTINEL_PIPELINE__MAX_BATCH", "2")
    settings = load_settings(
        path,
        pipeline={"queue_size": 4, "workers": None},
        store__path=tmp_path / "run.sqlite",
        source__folder=None,
    )
    assert settings.pipeline.queue_size == 4  # flag
    assert settings.pipeline.max_batch == 2  # environment
    assert settings.pipeline.workers == 2  # TOML: a None flag means "not given"
    assert settings.store.path == tmp_path / "run.sqlite"
    assert settings.source.folder is None


def test_bad_values_become_one_readable_error(tmp_path, monkeypatch):
    path = write_toml(tmp_path / "s.toml", "[alerts]\nerror_rate = 2.0\n[source]\nsettle = 1\n")
    monkeypatch.setenv("SENTINEL_LOG__LEVEL", "verbose")
    with pytest.raises(SettingsError) as caught:
        load_settings(path, pipeline__queue_size=0)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid settings (4 problems):"
    assert (
        "  pipeline.queue_size: Input should be greater than or equal to 1 (got 0) "
        "[from command-line flags]"
    ) in lines
    assert (f"  source.settle: unknown setting; did you mean source.settle_s? "
            f"[from {path} [source]]") in lines
    assert f"  alerts.error_rate: Input should be less than 1 (got 2.0) [from {path} [alerts]]" in (
        lines
    )
    assert (
        "  log.level: unknown log level 'verbose'; valid: DEBUG, INFO, WARNING, ERROR, "
        "CRITICAL [from environment variable SENTINEL_LOG__LEVEL]"
    ) in lines


def test_bad_environment_type(monkeypatch):
    monkeypatch.setenv("SENTINEL_PIPELINE__WORKERS", "two")
    with pytest.raises(SettingsError, match=r"pipeline\.workers: Input should be a valid integer"):
        load_settings()


def test_missing_and_malformed_toml(tmp_path):
    with pytest.raises(SettingsError, match="settings file not found"):
        load_settings(tmp_path / "absent.toml")
    broken = write_toml(tmp_path / "broken.toml", "[pipeline\nqueue_size = 1\n")
    with pytest.raises(SettingsError, match="is not valid TOML"):
        load_settings(broken)


def test_dump_toml_round_trips_and_save_logs(tmp_path, caplog):
    settings = load_settings(
        source={"folder": tmp_path / "frames", "name_pattern": r'(?P<well>[A-P]\d+)_"x"'},
        alerts__error_rate=0.05,
        plate__plate_id="PL-1",
    )
    with caplog.at_level(logging.INFO, logger="edge_app.settings"):
        saved = settings.save(tmp_path / "run")
    assert saved == tmp_path / "run" / SETTINGS_FILE_NAME
    assert load_settings(saved) == settings
    assert json.loads(settings.dump_json())["alerts"]["error_rate"] == 0.05
    assert "effective settings" in caplog.text
    assert str(saved) in caplog.text


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.pipeline.queue_size = 3  # type: ignore[misc]


# --- issue 12 regressions: values that never end a run, typos that were ignored ----------


@pytest.mark.parametrize("value", ["1e309", "inf", "nan", "-inf"])
def test_issue12_settle_s_must_be_finite(monkeypatch, value):
    monkeypatch.setenv("SENTINEL_SOURCE__SETTLE_S", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "source.settle_s" in message
    assert "SENTINEL_SOURCE__SETTLE_S" in message


def test_issue12_settle_s_is_bounded(tmp_path):
    path = write_toml(tmp_path / "s.toml", "[source]\nsettle_s = 1e300\n")
    with pytest.raises(SettingsError, match=r"source\.settle_s: Input should be less than"):
        load_settings(path)


def test_issue12_toml_inf_is_refused(tmp_path):
    path = write_toml(tmp_path / "s.toml", "[store]\nflush_s = inf\n")
    with pytest.raises(SettingsError, match=r"store\.flush_s: .*finite"):
        load_settings(path)


def test_issue12_unknown_section_variable_names_the_closest(monkeypatch):
    monkeypatch.setenv("SENTINEL_ALERT__ERROR_RATE", "0.5")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid settings: SENTINEL_ALERT__ERROR_RATE: unknown setting; did you mean "
        "SENTINEL_ALERTS__ERROR_RATE? [from environment variable SENTINEL_ALERT__ERROR_RATE]")


def test_issue12_unknown_key_variable_is_listed_with_other_problems(monkeypatch):
    monkeypatch.setenv("SENTINEL_SOURCE__SETLE_S", "1")
    monkeypatch.setenv("SENTINEL_PIPELINE__WORKERS", "0")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid settings (2 problems):"
    assert any("SENTINEL_SOURCE__SETLE_S" in line and "SENTINEL_SOURCE__SETTLE_S?" in line
               for line in lines)


def test_issue12_other_tools_variables_are_not_settings(monkeypatch):
    monkeypatch.setenv("SENTINEL_REAL_DATA", "elsewhere")
    monkeypatch.setenv("SENTINEL_NO_GPU_EXTRA", "1")
    assert load_settings() == SentinelSettings()


def test_list_variable_that_is_not_json_names_the_variable(monkeypatch):
    """Found by the settings fuzzer: pydantic-settings' own parse error named no variable."""
    monkeypatch.setenv("SENTINEL_SOURCE__WELLS", "False")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid settings: source.wells: not a JSON list (got 'False'); write e.g. "
        '["A1", "B2"] [from environment variable SENTINEL_SOURCE__WELLS]')
