"""``build_pipeline``: the one place where concrete sources, engines and rules are chosen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_app.alerts.rules import create_rules
from edge_app.pipeline.analysis import FrameAnalyser, Segmenter
from edge_app.pipeline.runner import Pipeline, utcnow
from edge_app.settings import SentinelSettings
from edge_app.sources.base import FrameSource, KnownCheck
from edge_app.store.writer import StoreWriter

log = logging.getLogger(__name__)


def _folder_source(settings: SentinelSettings, is_known: KnownCheck, plate: Any | None
                   ) -> FrameSource:
    from edge_app.sources.folder.source import FolderSource

    cfg = settings.source
    if cfg.folder is None:
        raise ValueError("source.folder is not set: give the folder the microscope saves to")
    return FolderSource(
        cfg.folder, name_pattern=cfg.name_pattern, polling=cfg.polling, settle_s=cfg.settle_s,
        rescan_s=cfg.rescan_s, once=cfg.once, is_known=is_known,
    )


def _mm_plan(settings: SentinelSettings, *, simulated: bool, plate: Any | None) -> Any:
    """The plate plan of a Micro-Manager source; the virtual scope simulates 24 h steps.

    Wells: ``source.wells`` when given, else the plate map's wells, else the whole plate.
    """
    from edge_app.sources.mm.plate_plan import make_plate_plan, mapped_wells

    cfg = settings.source
    timepoints = len(cfg.hours) if cfg.hours and cfg.timepoints == 1 else cfg.timepoints
    hours = cfg.hours or (tuple(24.0 * (k + 1) for k in range(timepoints)) if simulated else None)
    wells = tuple(cfg.wells) or mapped_wells(plate)
    origin = "source.wells" if cfg.wells else "the plate map" if wells else "the whole plate"
    log.info("plate plan: %s well(s) from %s", len(wells) or cfg.plate_size, origin)
    return make_plate_plan(cfg.plate_size, wells=wells, sites=cfg.sites,
                           timepoints=timepoints, interval_s=cfg.interval_s, hours=hours)


def _plate_id(settings: SentinelSettings, plate: Any | None) -> str | None:
    return settings.plate.plate_id or (plate.plate_id if plate is not None else None)


def _mm_virtual_source(settings: SentinelSettings, is_known: KnownCheck, plate: Any | None
                       ) -> FrameSource:
    from edge_app.sources.mm.pymmcore_source import PymmcorePlusSource
    from edge_app.sources.sim.virtual_scope import VirtualPlateMicroscope

    plan = _mm_plan(settings, simulated=True, plate=plate)
    plate_id = _plate_id(settings, plate)
    scope = VirtualPlateMicroscope(plan, plate=plate, plate_id=plate_id or "virtual",
                                   frame_size=settings.source.frame_size)
    return PymmcorePlusSource(scope, plan, plate_id=plate_id or "virtual", name="mm-virtual",
                              handoff_size=settings.source.handoff_size)


def _pymmcore_source(settings: SentinelSettings, is_known: KnownCheck, plate: Any | None
                     ) -> FrameSource:
    from edge_app.sources.mm.pymmcore_source import ConfiguredCore, PymmcorePlusSource

    cfg = settings.source
    if cfg.mm_config is None:
        raise ValueError("source pymmcore needs a Micro-Manager configuration: --mm-config "
                         "FILE.cfg (or source.mm_config); try --source mm-virtual without one")
    return PymmcorePlusSource(
        ConfiguredCore(cfg.mm_config, adapter_path=cfg.mm_app_path),
        _mm_plan(settings, simulated=False, plate=plate), plate_id=_plate_id(settings, plate),
        handoff_size=cfg.handoff_size,
    )


def _pycromanager_source(settings: SentinelSettings, is_known: KnownCheck, plate: Any | None
                         ) -> FrameSource:
    from edge_app.sources.mm.pycromanager_source import HeadlessPythonBackend, PycromanagerSource

    cfg = settings.source
    backend = None
    if cfg.mm_config is not None:
        if cfg.mm_app_path is None:
            raise ValueError("a headless pycromanager run needs source.mm_app_path (the "
                             "folder holding Micro-Manager's device adapters)")
        backend = HeadlessPythonBackend(cfg.mm_app_path, cfg.mm_config)
    return PycromanagerSource(
        _mm_plan(settings, simulated=False, plate=plate), backend=backend, port=cfg.port,
        plate_id=_plate_id(settings, plate), handoff_size=cfg.handoff_size,
    )


SOURCES: dict[str, Callable[[SentinelSettings, KnownCheck, Any | None], FrameSource]] = {
    "folder": _folder_source,
    "mm-virtual": _mm_virtual_source,
    "pymmcore": _pymmcore_source,
    "pycromanager": _pycromanager_source,
}


def _classical(settings: SentinelSettings) -> Segmenter:
    from engines.classical import ClassicalSegmenter

    return ClassicalSegmenter()


def _engine_segmenter(settings: SentinelSettings) -> Segmenter:
    """The neural segmentation engine: ``segmentation.bundle`` or the installed default."""
    from engines.bundle import default_bundle
    from engines.tasks import SegmentationEngine

    cfg = settings.segmentation
    bundle = cfg.bundle or default_bundle("segmentation")
    if bundle is None:
        raise ValueError("segmentation backend 'engine' needs a bundle: set segmentation.bundle"
                         " or install one in engines/bundles/segmentation (sentinel train)")
    engine = SegmentationEngine(bundle, cfg.runtime)
    engine.load()
    return engine


def _auto_segmenter(settings: SentinelSettings) -> Segmenter:
    """The segmentation engine when its bundle's real-image check does not favour the
    classical segmenter (:func:`engines.realdata.auto_segmenter_choice`), else classical."""
    from engines.bundle import default_bundle
    from engines.realdata import auto_segmenter_choice

    bundle = settings.segmentation.bundle or default_bundle("segmentation")
    choice, why = auto_segmenter_choice(bundle)
    log.info("segmentation (auto): %s (%s)", "engine " + str(bundle) if choice == "engine"
             else "classical segmenter", why)
    return _engine_segmenter(settings) if choice == "engine" else _classical(settings)


SEGMENTERS: dict[str, Callable[[SentinelSettings], Segmenter]] = {
    "auto": _auto_segmenter, "classical": _classical, "engine": _engine_segmenter}


def _task_engine(settings: SentinelSettings, task: str, choice: str) -> Any | None:
    """Load the IPP or next-frame engine named by ``choice`` (auto | off | bundle path)."""
    from engines.bundle import default_bundle
    from engines.tasks import ForecastEngine, IPPEngine

    if choice == "off":
        return None
    bundle = default_bundle(task) if choice == "auto" else Path(choice)
    if bundle is None:
        log.info("%s: no engine bundle installed; stage off", task)
        return None
    engine = (IPPEngine if task == "ipp" else ForecastEngine)(bundle, settings.engines.runtime)
    engine.load()
    return engine


def ipp_vocabulary(ipp: Any | None) -> dict[str, tuple[str, ...]] | None:
    """The IPP engine's label values per head: what the plate map is checked against.

    Labels that never alert (microscope, magnification, biological and technical replicate)
    are left out: a lab's own microscope or a ``T12`` is recorded, not refused.
    """
    from edge_app.alerts.ordinal import SILENT_LABELS

    if ipp is None:
        return None
    return {head.name: tuple(head.labels) for head in ipp.bundle.manifest.output.heads
            if head.name not in SILENT_LABELS}


def load_plate(settings: SentinelSettings, ipp: Any | None) -> Any | None:
    """The plate map of ``plate.protocol`` (the one place it is loaded), checked against the
    IPP vocabulary: a value the engine does not know is a load-time error naming the file,
    row, column and the closest known value; other spellings of a known value are accepted."""
    from edge_app.core.plate import load_plate_protocol

    path = settings.plate.protocol
    if path is None:
        return None
    return load_plate_protocol(path, plate_id=settings.plate.plate_id,
                               vocabulary=ipp_vocabulary(ipp))


def _calibration(ipp: Any) -> Any | None:
    """The IPP engine's per-class calibration scores for absolute evidence (``None``: none)."""
    from edge_app.alerts.conformal import IPPCalibration

    return IPPCalibration.from_engine(ipp)


def quality_config(settings: SentinelSettings) -> Any:
    """The ``quality`` settings section as the engines' ``QualityConfig``."""
    from engines.quality import QualityConfig

    return QualityConfig(**settings.quality.model_dump(exclude={"persist_frames"}))


def _tolerance(settings: SentinelSettings) -> Any:
    from edge_app.alerts.ordinal import OrdinalTolerance

    return OrdinalTolerance(density_fold=settings.tolerance.density_fold,
                            hours=settings.tolerance.hours)


def _pick(registry: dict[str, Any], name: str, what: str) -> Any:
    if name not in registry:
        raise ValueError(f"unknown {what} {name!r}; valid: {sorted(registry)}")
    return registry[name]


def build_pipeline(
    settings: SentinelSettings,
    writer: StoreWriter,
    *,
    plate: Any | None = None,
    source: FrameSource | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Pipeline:
    """Compose source -> analyser (engines) -> rules -> store from the settings tree.

    ``plate``: an already loaded plate map; else ``plate.protocol`` is loaded here, once.
    """
    segmenter = _pick(SEGMENTERS, settings.segmentation.backend, "segmentation backend")(settings)
    ipp = _task_engine(settings, "ipp", settings.engines.ipp)
    if plate is None:
        plate = load_plate(settings, ipp)
    if source is None:
        factory = _pick(SOURCES, settings.source.kind, "source")
        source = factory(settings, writer.reader_is_known, plate)
    forecaster = _task_engine(settings, "nextframe", settings.engines.forecast)
    rules = create_rules(settings.alerts.rules, plate=plate, calibration=_calibration(ipp),
                         fdr=settings.alerts.false_discovery_rate,
                         error_rate=settings.alerts.error_rate, growth=settings.growth,
                         tolerance=_tolerance(settings),
                         persist=settings.alerts.persist_frames,
                         quality_persist=settings.quality.persist_frames)
    log.info("pipeline: source=%s segmenter=%s ipp=%s forecast=%s rules=%s", source.name,
             segmenter.name, getattr(ipp, "name", None), getattr(forecaster, "name", None),
             [r.name for r in rules])
    analyser = FrameAnalyser(segmenter, ipp=ipp, forecaster=forecaster, clock=clock,
                             quality=quality_config(settings))
    pipeline = Pipeline(
        source, analyser, writer, plate=plate, rules=rules,
        queue_size=settings.pipeline.queue_size, max_batch=settings.pipeline.max_batch,
        workers=settings.pipeline.workers, clock=clock,
    )
    for engine in (segmenter, ipp, forecaster):
        signal = getattr(getattr(engine, "runtime", None), "engine_event", None)
        if signal is not None:
            signal.connect(pipeline.report_engine_event)
    return pipeline
