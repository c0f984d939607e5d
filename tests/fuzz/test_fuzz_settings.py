"""Fuzzed settings (TOML file + ``SENTINEL_*`` variables): accepted with the values given,
or one ``SettingsError`` naming each bad setting and where it came from. Never a traceback,
an infinite wait, or a value silently changed or ignored."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge_app.settings import SettingsError, load_settings, setting_names
from tests.fuzz.profiles import TIMEOUT_S

NAMES = setting_names()
TYPOS = ["alert.error_rate", "source.settle", "pipeline.queue", "sources.folder", "store.pth"]
_SCALAR = st.one_of(
    st.integers(-(2**70), 2**70), st.floats(), st.booleans(),
    st.text(max_size=12), st.sampled_from(["1e309", "-1", "0", "inf", "nan", "2.5", "[]"]),
)
_VALUE = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3))

pytestmark = pytest.mark.timeout(TIMEOUT_S)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf"
                                                if value == -math.inf else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # TOML has no surrogate-pair escapes


def _document(entries: dict[str, object]) -> str:
    sections: dict[str, dict[str, object]] = {}
    for name, value in entries.items():
        section, key = name.split(".")
        sections.setdefault(section, {})[key] = value
    return "\n".join(f"[{section}]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in table.items())
                     for section, table in sections.items())


def _env_value(value: object) -> str:
    text = json.dumps(value) if isinstance(value, list) else str(value)
    return text.replace("\x00", "")  # no environment can hold a NUL byte


def _same(given_value: object, loaded: object) -> bool:
    """The loaded value is the one given (numbers by value, text as paths or strings)."""
    if isinstance(loaded, bool):  # pydantic's spellings of true and false
        spelled = {True: {"1", "true", "yes", "on", "y", "t"},
                   False: {"0", "false", "no", "off", "n", "f"}}
        return str(given_value).strip().lower() in spelled[loaded]
    if isinstance(loaded, int | float) and not isinstance(loaded, bool):
        return math.isfinite(loaded) and float(loaded) == float(given_value)  # type: ignore
    if isinstance(loaded, tuple):
        return True  # tuples of labels or hours: the element checks are pydantic's own
    return loaded is None or str(loaded) == str(Path(str(given_value))) or \
        str(loaded).upper() == str(given_value).strip().upper()


def _check(toml_entries: dict, env_entries: dict) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.upper().startswith("SENTINEL_")}
    environ |= {"SENTINEL_" + name.upper().replace(".", "__"): _env_value(value)
                for name, value in env_entries.items()}
    with tempfile.TemporaryDirectory() as folder, mock.patch.dict(os.environ, environ,
                                                                  clear=True):
        path = Path(folder) / "sentinel.toml"
        path.write_text(_document(toml_entries), encoding="utf-8")
        try:
            settings = load_settings(path)
        except SettingsError as error:
            lines = str(error).splitlines()
            if lines[0].startswith(f"settings file {path} is not valid TOML"):
                assert len(lines) == 1
                return
            assert lines[0].startswith("invalid settings"), lines
            assert all("[from " in line for line in lines[1:] or lines)
            return
    assert not set(toml_entries) - set(NAMES) and not set(env_entries) - set(NAMES)
    values = {**toml_entries, **{k: _env_value(v) for k, v in env_entries.items()}}
    for name, value in values.items():
        section, key = name.split(".")
        loaded = getattr(getattr(settings, section), key)
        assert _same(value, loaded), (name, value, loaded)


@given(toml_entries=st.dictionaries(st.sampled_from(NAMES + TYPOS), _VALUE, max_size=5),
       env_entries=st.dictionaries(st.sampled_from(NAMES + TYPOS), _VALUE, max_size=3))
def test_fuzz_settings_toml_and_environment(toml_entries, env_entries):
    _check(toml_entries, env_entries)


@given(text=st.text(max_size=200))
def test_fuzz_settings_file_that_is_not_toml(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sentinel.toml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            load_settings(path)
        except SettingsError as error:
            assert str(path) in str(error) or "invalid settings" in str(error)
