"""``build_pipeline``: the one place where concrete sources, engines and rules are chosen."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from edge_app.alerts.rules import create_rules
from edge_app.pipeline.analysis import FrameAnalyser, Segmenter
from edge_app.pipeline.runner import Pipeline, utcnow
from edge_app.settings import SentinelSettings
from edge_app.sources.base import FrameSource, KnownCheck
from edge_app.store.writer import StoreWriter

log = logging.getLogger(__name__)


def _folder_source(settings: SentinelSettings, is_known: KnownCheck) -> FrameSource:
    from edge_app.sources.folder import FolderSource

    cfg = settings.source
    if cfg.folder is None:
        raise ValueError("source.folder is not set: give the folder the microscope saves to")
    return FolderSource(
        cfg.folder, name_pattern=cfg.name_pattern, polling=cfg.polling, settle_s=cfg.settle_s,
        rescan_s=cfg.rescan_s, once=cfg.once, is_known=is_known,
    )


SOURCES: dict[str, Callable[[SentinelSettings, KnownCheck], FrameSource]] = {
    "folder": _folder_source,
}


def _classical(settings: SentinelSettings) -> Segmenter:
    from engines.classical import ClassicalSegmenter

    return ClassicalSegmenter()


SEGMENTERS: dict[str, Callable[[SentinelSettings], Segmenter]] = {"classical": _classical}


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
    """Compose source -> analyser -> rules -> store from the settings tree."""
    if source is None:
        factory = _pick(SOURCES, settings.source.kind, "source")
        source = factory(settings, lambda uri, size, mtime: writer.reader().is_known(uri, size, mtime))
    segmenter = _pick(SEGMENTERS, settings.segmentation.backend, "segmentation backend")(settings)
    rules = create_rules(settings.alerts.rules)
    log.info("pipeline: source=%s segmenter=%s rules=%s", source.name, segmenter.name,
             [r.name for r in rules])
    return Pipeline(
        source, FrameAnalyser(segmenter, clock=clock), writer, plate=plate, rules=rules,
        queue_size=settings.pipeline.queue_size, max_batch=settings.pipeline.max_batch,
        workers=settings.pipeline.workers, clock=clock,
    )
