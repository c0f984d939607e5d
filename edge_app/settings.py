"""The one settings tree: defaults < TOML file < ``SENTINEL_*`` variables < CLI flags.

Each component reads its own section. Nested values come from variables with ``__`` between
the levels, e.g. ``SENTINEL_PIPELINE__QUEUE_SIZE=8``; the TOML file uses one table per
section (``[pipeline]``, ``queue_size = 8``). Flags are passed to :func:`load_settings` as
keyword arguments (``pipeline={"queue_size": 8}`` or ``pipeline__queue_size=8``); ``None``
means "flag not given". Unknown keys are errors, so a typo cannot be silently ignored.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceParseError

logger = logging.getLogger(__name__)

ENV_PREFIX = "SENTINEL_"
ENV_DELIMITER = "__"
SETTINGS_FILE_NAME = "sentinel-settings.toml"
_TOML_FILE: ContextVar[Path | None] = ContextVar("sentinel_toml_file", default=None)
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """Settings that cannot be loaded; the message lists every bad value and its origin."""


class _Section(BaseModel):
    # Every float is finite: 1e309 (inf) or nan in a file or variable is an error, not a wait
    # that never ends.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SourceSettings(_Section):
    """Where frames come from. ``kind`` is a source registry name (checked at wiring)."""

    kind: Annotated[str, Field(min_length=1)] = "folder"
    folder: Path | None = None
    polling: bool = False
    settle_s: Annotated[float, Field(ge=0, le=600)] = 0.5
    rescan_s: Annotated[float, Field(gt=0, le=3600)] = 5.0
    name_pattern: str | None = None
    once: bool = False
    # Micro-Manager sources (mm-virtual, pymmcore, pycromanager): the plate plan and hardware.
    mm_config: Path | None = None
    mm_app_path: Path | None = None
    port: Annotated[int, Field(ge=1, le=65535)] = 4827
    plate_size: Annotated[int, Field(ge=96, le=384)] = 96
    wells: tuple[str, ...] = ()
    sites: Annotated[int, Field(ge=1)] = 1
    timepoints: Annotated[int, Field(ge=1)] = 1
    interval_s: Annotated[float, Field(ge=0, le=7 * 86400)] = 0.0
    hours: tuple[float, ...] = ()
    frame_size: Annotated[int, Field(ge=32, le=4096)] = 256
    handoff_size: Annotated[int, Field(ge=1)] = 256


class PipelineSettings(_Section):
    """Queue and batching of the frame pipeline."""

    queue_size: Annotated[int, Field(ge=1)] = 64
    max_batch: Annotated[int, Field(ge=1)] = 8
    workers: Annotated[int, Field(ge=1)] = 1


class SegmentationSettings(_Section):
    """Which segmenter backend (a registry name, checked at wiring); for ``engine``, the
    bundle folder (default: the installed one) and the runtime (``auto|tensorrt|torch|onnx``)."""

    backend: Annotated[str, Field(min_length=1)] = "auto"
    bundle: Path | None = None
    runtime: Literal["auto", "tensorrt", "torch", "onnx"] = "auto"


class PlateSettings(_Section):
    """The plate map of the run and the plate's id (else taken from the map)."""

    protocol: Path | None = None
    plate_id: str | None = None


class StoreSettings(_Section):
    """The SQLite store; at the end of a run, up to ``flush_s`` seconds to write what waits
    in the spool; at start, up to ``start_wait_s`` for another process's write lock."""

    path: Path = Path("sentinel.sqlite")
    flush_s: Annotated[float, Field(ge=0, le=86400)] = 30.0
    start_wait_s: Annotated[float, Field(ge=0, le=3600)] = 10.0


class EngineSettings(_Section):
    """Protocol prediction (IPP) and next-frame engines: ``auto`` uses the installed bundle
    when there is one, ``off`` disables the stage, a path names a bundle folder."""

    ipp: str = "auto"
    forecast: str = "auto"
    runtime: Literal["auto", "tensorrt", "torch", "onnx"] = "auto"


class AlertSettings(_Section):
    """Alert rules and the protocol alerts' false-alarm budget.

    ``false_discovery_rate``: the expected share of false protocol alerts among a plate's
    protocol alerts (e-BH over wells x labels; docs/alerting.md). ``error_rate``: the per-frame
    level at which the IPP engine "disagrees" with a well's plate-map value, used to spot a
    condition the engine systematically disagrees with (one notice instead of many alerts).
    ``persist_frames``: how many time points a well's replicate evidence needs before it
    counts (they are then tested together), and how many time points a well must be off its
    growth forecast before a growth alert (1 for plates imaged once; 2, the default).
    """

    rules: tuple[str, ...] = ("quality", "protocol", "growth")
    false_discovery_rate: Annotated[float, Field(gt=0, lt=1)] = 0.05
    error_rate: Annotated[float, Field(gt=0, lt=1)] = 0.01
    persist_frames: Annotated[int, Field(ge=1)] = 2


class QualitySettings(_Section):
    """Thresholds of the quality verdicts (:class:`engines.quality.QualityConfig`).

    How each was chosen, in short (the full account is on ``QualityConfig``):
    ``min_area_fraction`` 0.005: a disc ~4% of the image side across is the smallest
    spheroid; ``max_second_object`` 0.05 and ``max_particles`` 5: on 150 clean simulator
    renders, the same rows with debris and the 50 real crops (clean frames have <= 2
    particles, 94% of debris frames > 5); ``min_focus`` 0.17: the 50 real crops all score
    >= 0.33 sharp and <= 0.16 after a 1.5 px Gaussian blur, sharp 512-px simulator renders
    0.195-0.32; ``max_edge_width`` 4 px: sharp frames 0-2.7, 25-60 um defocus 6-9.
    ``persist_frames`` 2: a well alerts for an issue seen in at least this many of its frames
    (and at least half of them); 1 for wells imaged once at one site. An issue shared by
    several wells of a replicate group is one notice (``edge_app.alerts.quality``).
    """

    min_area_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.005
    max_objects: Annotated[int, Field(ge=1)] = 1
    max_second_object: Annotated[float, Field(ge=0, le=1)] = 0.05
    max_particles: Annotated[int, Field(ge=0)] = 5
    flag_border: bool = True
    min_focus: Annotated[float, Field(ge=0)] = 0.17
    max_edge_width: Annotated[float, Field(gt=0)] = 4.0
    persist_frames: Annotated[int, Field(ge=1)] = 2


class GrowthSettings(_Section):
    """When a frame departs from the growth forecast made from its well's earlier visits.

    ``max_area_change`` 0.35: the area may differ from the extrapolated one by up to 35% either
    way (a ratio within 1/1.35..1.35). ``min_ssim`` 0.5: the SSIM (Gaussian sigma 1.5, the
    trainer's; :func:`engines.metrics.ssim`) of forecast and frame. Both were set with the
    first growth rule, not fitted. On ``sentinel demo`` (seed 7, classical segmenter) the 6
    wells that reach a forecast (72 h, from 24 and 48 h; none with a growth deviation) measure
    area ratio 0.71-0.98 and SSIM 0.48-0.87: both limits are crossed once there, so they sit
    at the edge of what a simulated plate shows (``sentinel bench alerts`` measures the
    false-alert rate they give).
    """

    max_area_change: Annotated[float, Field(gt=0)] = 0.35
    min_ssim: Annotated[float, Field(ge=-1, le=1)] = 0.5


class ToleranceSettings(_Section):
    """How far an ordinal plate-map value may sit from what is observed and still agree.

    ``density_fold`` 1.5: seeding densities agree within 1.5x, so SLiMIA's neighbouring
    densities (2000/3000, 5000/6000, 8000/9000/10000: ratios 1.1-1.5) agree and 2000 vs 8000
    does not. ``hours`` 12: half the 24 h between daily visits, so a frame is never matched
    to the neighbouring day. Both came with the first ordinal verdicts, from those spacings.
    """

    density_fold: Annotated[float, Field(ge=1)] = 1.5
    hours: Annotated[float, Field(ge=0)] = 12.0


class LogSettings(_Section):
    """Logging level of the application."""

    level: str = "INFO"

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}; valid: {', '.join(_LOG_LEVELS)}")
        return level


class SentinelSettings(BaseSettings):
    """All settings of a sentinel run, one section per component."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    source: SourceSettings = SourceSettings()
    pipeline: PipelineSettings = PipelineSettings()
    segmentation: SegmentationSettings = SegmentationSettings()
    engines: EngineSettings = EngineSettings()
    plate: PlateSettings = PlateSettings()
    store: StoreSettings = StoreSettings()
    alerts: AlertSettings = AlertSettings()
    quality: QualitySettings = QualitySettings()
    growth: GrowthSettings = GrowthSettings()
    tolerance: ToleranceSettings = ToleranceSettings()
    log: LogSettings = LogSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init) > ``SENTINEL_*`` variables > TOML file (set by load_settings)."""
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_TOML_FILE.get())
        return init_settings, env_settings, toml

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible values (paths as strings)."""
        return self.model_dump(mode="json")

    def dump_json(self) -> str:
        """The effective settings as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def dump_toml(self) -> str:
        """The effective settings as TOML that :func:`load_settings` reads back.

        ``None`` values are left out (TOML has no null); they are the defaults.
        """
        lines: list[str] = []
        for section, table in self.to_dict().items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {_toml_value(v)}" for key, v in table.items() if v is not None]
            lines.append("")
        return "\n".join(lines)

    def save(self, folder: Path, name: str = SETTINGS_FILE_NAME) -> Path:
        """Write the TOML beside a run and log the effective settings; return the file."""
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dump_toml(), encoding="utf-8")
        logger.info("effective settings (saved to %s): %s", path, json.dumps(self.to_dict()))
        return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def load_settings(toml_path: Path | None = None, **overrides: Any) -> SentinelSettings:
    """Build the settings: defaults < ``toml_path`` < ``SENTINEL_*`` variables < ``overrides``.

    Args:
        toml_path: a TOML settings file; it must exist when given.
        **overrides: CLI flags as sections (``pipeline={"queue_size": 8}``) or flattened
            (``pipeline__queue_size=8``); ``None`` values are ignored.

    Raises:
        SettingsError: one message listing every bad value and where it came from.
    """
    toml_data = _read_toml(toml_path) if toml_path is not None else {}
    flags = _nest(overrides)
    unknown = _unknown_variables(os.environ)
    with _toml_file(toml_path):
        try:
            settings = SentinelSettings(**flags)
        except ValidationError as error:
            raise SettingsError(_describe(error, toml_path, toml_data, flags, unknown)) from None
        except SourceParseError as error:  # a list-valued variable that is not JSON
            raise SettingsError(_summarise(unknown + _unparsable_variables(error))) from None
    if unknown:
        raise SettingsError(_summarise(unknown))
    return settings


def setting_names() -> list[str]:
    """Every setting as ``section.key``."""
    return [f"{section}.{key}"
            for section, field in SentinelSettings.model_fields.items()
            for key in _section_fields(field.annotation)]


def _section_fields(annotation: Any) -> list[str]:
    return list(getattr(annotation, "model_fields", {}))


def _closest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else ""


def _unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """``SENTINEL_*`` variables with ``__`` that name no setting (a typo is not ignored).

    Variables without ``__`` are settings only when they name a whole section
    (``SENTINEL_SOURCE='{...}'``); others (``SENTINEL_REAL_DATA``) belong to other tools.
    """
    valid = [ENV_PREFIX + name.upper().replace(".", ENV_DELIMITER) for name in setting_names()]
    problems = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or ENV_DELIMITER not in upper[len(ENV_PREFIX):]:
            continue
        if upper not in valid:
            problems.append(f"  {name}: unknown setting{_closest(upper, valid)} "
                            f"[from environment variable {name}]")
    return problems


def _unparsable_variables(error: SourceParseError) -> list[str]:
    """Variables of list settings (``SENTINEL_SOURCE__WELLS``) whose value is not JSON."""
    problems = []
    for name, value in sorted(os.environ.items()):
        parts = name.upper().removeprefix(ENV_PREFIX).lower().split(ENV_DELIMITER)
        if not name.upper().startswith(ENV_PREFIX) or f"{'.'.join(parts)}" not in setting_names():
            continue
        section = SentinelSettings.model_fields[parts[0]].annotation
        field = getattr(section, "model_fields", {}).get(parts[1])
        if field is None or getattr(field.annotation, "__origin__", None) is not tuple:
            continue
        try:
            json.loads(value)
        except ValueError:
            problems.append(f"  {'.'.join(parts)}: not a JSON list (got {value!r}); write e.g. "
                            f'["A1", "B2"] [from environment variable {name}]')
    return problems or [f"  {error} [from the environment]"]


def _summarise(lines: list[str]) -> str:
    """One line for one problem; a count and one line per problem for more."""
    if len(lines) == 1:
        return "invalid settings: " + lines[0].strip()
    return f"invalid settings ({len(lines)} problems):\n" + "\n".join(lines)


@contextmanager
def _toml_file(path: Path | None) -> Iterator[None]:
    token = _TOML_FILE.set(Path(path) if path is not None else None)
    try:
        yield
    finally:
        _TOML_FILE.reset(token)


def _read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"settings file not found: {path}")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None


def _nest(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a__b": 1, "c": {"d": None}}`` -> ``{"a": {"b": 1}}`` without ``None`` values."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            value = _nest(value) or None
        if value is None:
            continue
        *parents, leaf = key.split(ENV_DELIMITER)
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        if isinstance(value, dict) and isinstance(target.get(leaf), dict):
            target[leaf].update(value)
        else:
            target[leaf] = value
    return nested


def _describe(
    error: ValidationError, toml_path: Path | None, toml_data: dict[str, Any], flags: dict,
    unknown: list[str],
) -> str:
    lines = list(unknown)
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        origin = _origin(loc, toml_path, toml_data, flags)
        kind = item["type"]
        if kind == "extra_forbidden" and any(origin in line for line in unknown):
            continue  # already listed with the variable's own name
        got = "" if kind in ("extra_forbidden", "value_error") else f" (got {item['input']!r})"
        message = item["msg"]
        if kind == "extra_forbidden":
            message = "unknown setting" + _closest(".".join(loc), setting_names())
        message = message.removeprefix("Value error, ")
        lines.append(f"  {'.'.join(loc)}: {message}{got} [from {origin}]")
    return _summarise(lines)


def _origin(loc: tuple[str, ...], toml_path: Path | None, toml: dict, flags: dict) -> str:
    """Which layer supplied the value at ``loc``: flag, variable, TOML file or default."""
    if _has(flags, loc):
        return "command-line flags"
    variable = ENV_PREFIX + ENV_DELIMITER.join(loc).upper()
    if any(name.upper() == variable for name in os.environ):
        return f"environment variable {variable}"
    if _has(toml, loc):
        return f"{toml_path} [{loc[0]}]" if len(loc) > 1 else str(toml_path)
    return "defaults"


def _has(tree: Any, loc: tuple[str, ...]) -> bool:
    for part in loc:
        if not isinstance(tree, Mapping) or part not in tree:
            return False
        tree = tree[part]
    return True
