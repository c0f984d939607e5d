"""``sentinel doctor``'s engine lines: per stage, the bundle (hashes verified) and the runtime
``select_runtime`` picks on this PC, with its reasons (the same call the engines make)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge_app.service.doctor_checks import Check

SELECT_LOGGER = "engines.runtimes.select"
MISSING = "no bundle:"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _select_reasons() -> Iterator[list[str]]:
    """Collect what ``select_runtime`` logs (choice and each refusal) while it runs."""
    logger = logging.getLogger(SELECT_LOGGER)
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def stage_plan(settings: Any) -> list[tuple[str, Path | None, str, str]]:
    """``(stage, bundle folder or None, runtime choice, why)`` as the settings ask."""
    from engines.bundle import default_bundle
    from engines.realdata import auto_segmenter_choice

    seg = settings.segmentation
    plan: list[tuple[str, Path | None, str, str]] = []
    bundle = seg.bundle or default_bundle("segmentation")
    if seg.backend == "classical":
        plan.append(("segmentation", None, "", "classical segmenter (segmentation.backend)"))
    elif seg.backend == "auto":  # the same decision as build_pipeline's auto segmenter
        choice, why = auto_segmenter_choice(bundle)
        plan.append(("segmentation", bundle if choice == "engine" else None, seg.runtime,
                     f"auto: {'engine' if choice == 'engine' else 'classical segmenter'} "
                     f"({why})"))
    else:
        plan.append(("segmentation", bundle, seg.runtime, seg.backend if bundle is not None else
                     f"{MISSING} segmentation.backend = {seg.backend} needs segmentation.bundle "
                     "or an installed bundle"))
    for stage, task, choice in (("ipp", "ipp", settings.engines.ipp),
                                ("forecast", "nextframe", settings.engines.forecast)):
        if choice == "off":
            plan.append((stage, None, "", f"off (engines.{stage} = off)"))
            continue
        bundle = default_bundle(task) if choice == "auto" else Path(choice)
        plan.append((stage, bundle, settings.engines.runtime,
                     "no bundle installed: stage off" if bundle is None else choice))
    return plan


def engine_check(stage: str, folder: Path | None, choice: str, why: str) -> Check:
    """Verify the bundle's hashes, then open the runtime ``choice`` resolves to here."""
    from engines.bundle import BundleError, load_bundle
    from engines.runtimes.select import select_runtime

    name = f"engine: {stage}"
    if folder is None:
        if why.startswith(MISSING):
            return Check(name, "fail", why, "install a bundle (sentinel train) or set "
                         "segmentation.backend = auto")
        return Check(name, "ok", why)
    try:
        bundle = load_bundle(folder)
    except BundleError as exc:
        return Check(name, "fail", f"bundle not verified: {exc}",
                     "re-export or reinstall the bundle (sentinel train, or git checkout)")
    manifest = bundle.manifest
    what = f"{manifest.architecture} ({folder.name}, sha256 {bundle.digest[:12]}) verified"
    with _select_reasons() as reasons:
        try:
            runtime = select_runtime(bundle, choice)
        except Exception as exc:  # refused: RuntimeUnavailable, ParityError, OSError ...
            return Check(name, "fail", f"{what}; no runtime: {exc}",
                         "set the runtime to 'auto' or 'onnx' in the settings")
    try:
        detail = f"{what}; runtime {runtime.kind} on {runtime.device}"
    finally:
        runtime.close()
    prefix = f"{manifest.task}:{manifest.architecture}: "
    said = "; ".join(r.removeprefix(prefix) for r in reasons)
    return Check(name, "ok", f"{detail}: {said}" if said else detail)


def engine_checks(settings: Any) -> list[Check]:
    return [engine_check(*step) for step in stage_plan(settings)]
