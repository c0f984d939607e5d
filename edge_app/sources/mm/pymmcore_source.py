"""``PymmcorePlusSource``: Python owns the hardware; a pymmcore-plus MDA images the plate plan.

The core comes from a :class:`CoreProvider` (real adapters from a ``.cfg`` file, or the
virtual plate microscope). ``frameReady`` runs on the MDA runner thread (the signals backend
is forced to psygnal so no Qt thread is involved) and only copies the frame into the
hand-off queue; a relay thread feeds the pipeline. Teardown is explicit: cancel, join,
disconnect, ``unloadAllDevices`` and drop the core (micromanager.md §1.4, §2.2).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_app.sources.base import FrameSink, SourceCounts, SourceHealth
from edge_app.sources.mm.handoff import (
    AcquisitionCounts,
    LiveFrames,
    LiveImage,
    acquisition_health,
    timed_hook,
)
from edge_app.sources.mm.plate_plan import PlatePlan

log = logging.getLogger(__name__)


def import_pymmcore_plus(module: str = "pymmcore_plus") -> Any:
    """Import a pymmcore-plus module without letting it lower the root logger to DEBUG.

    pymmcore-plus configures logging on import (root level DEBUG); the CLI's level stays.
    """
    root = logging.getLogger()
    level = root.level
    try:
        return importlib.import_module(module)
    finally:
        root.setLevel(level)


def create_core(
    config: Path | None = None, *, unicore: bool = True, adapter_path: Path | None = None
) -> Any:
    """A new pymmcore-plus core with psygnal signals, optionally loading a ``.cfg`` file.

    ``unicore`` gives ``UniMMCore`` (C++ adapters and pure-Python devices); else
    ``CMMCorePlus``. ``adapter_path`` is where device adapters are searched when
    ``MICROMANAGER_PATH`` is not set (pymmcore-plus logs an error when it finds none; a
    core of Python devices needs none, so the virtual scope passes an empty folder).
    """
    os.environ["PYMM_SIGNALS_BACKEND"] = "psygnal"  # callbacks on the runner thread, never Qt
    unset = adapter_path is not None and "MICROMANAGER_PATH" not in os.environ
    if unset:
        os.environ["MICROMANAGER_PATH"] = str(adapter_path)
    try:
        if unicore:
            core: Any = import_pymmcore_plus("pymmcore_plus.experimental.unicore").UniMMCore()
        else:
            core = import_pymmcore_plus().CMMCorePlus()
    finally:
        if unset:
            del os.environ["MICROMANAGER_PATH"]
    if config is not None:
        try:
            core.loadSystemConfiguration(str(config))
        except Exception:
            release_core(core)
            raise
    return core


def release_core(core: Any) -> None:
    """Unload every device and collect, so the core is not left to interpreter exit."""
    try:
        if core.mda.is_running():
            core.mda.cancel()
        core.unloadAllDevices()
    finally:
        del core
        gc.collect()


class CoreProvider(Protocol):
    """Opens a configured core (``open``) and releases it (``close``)."""

    def open(self) -> Any: ...

    def close(self) -> None: ...


class ConfiguredCore:
    """A core loaded from a Micro-Manager ``.cfg`` file (real adapters, headless)."""

    def __init__(self, config: Path, *, adapter_path: Path | None = None) -> None:
        self.config, self.adapter_path = Path(config), adapter_path
        self._core: Any = None

    def open(self) -> Any:
        if not self.config.is_file():
            raise FileNotFoundError(f"Micro-Manager configuration not found: {self.config}")
        self._core = create_core(self.config, unicore=True, adapter_path=self.adapter_path)
        return self._core

    def close(self) -> None:
        core, self._core = self._core, None
        if core is not None:
            release_core(core)


def _utcnow() -> datetime:
    from edge_app.core.clock import utcnow

    return utcnow()


class PymmcorePlusSource:
    """Runs ``plan`` as a useq MDA on the provider's core; finite: ``wait()`` turns True."""

    def __init__(
        self,
        provider: CoreProvider,
        plan: PlatePlan,
        *,
        plate_id: str | None = None,
        handoff_size: int = 256,
        name: str = "pymmcore",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.name, self.provider, self.plan = name, provider, plan
        self.plate_id, self.handoff_size, self.clock = plate_id, handoff_size, clock
        self.error: BaseException | None = None
        self._live: LiveFrames | None = None
        self._core: Any = None
        self._cancelled = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def live(self) -> LiveFrames | None:
        return self._live

    def open(self, sink: FrameSink) -> None:
        self._core = self.provider.open()
        self._live = LiveFrames(self.plan, source=self.name, plate_id=self.plate_id,
                                maxsize=self.handoff_size, clock=self.clock)
        self._live.start(sink)
        events = self._core.mda.events
        events.frameReady.connect(self._on_frame)
        events.sequenceCanceled.connect(self._on_cancelled)
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-mda", daemon=True)
        self._thread.start()

    def _on_frame(self, img: np.ndarray, event: Any, meta: dict) -> None:
        """frameReady: copy and hand off, nothing else (runs on the MDA runner thread)."""
        assert self._live is not None
        timed_hook(self._live, lambda: LiveImage(
            np.array(img, copy=True), event.pos_name, event.index.get("t"),
            meta.get("runner_time_ms"), meta.get("pixel_size_um") or None))

    def _on_cancelled(self, *_: Any) -> None:
        self._cancelled.set()

    def _run(self) -> None:
        assert self._live is not None
        try:
            self._core.mda.run(self.plan.to_mda_sequence())
        except Exception as exc:  # recorded; the frames that arrived still count
            self.error = exc
            log.exception("%s: the acquisition failed", self.name)
        finally:
            self._live.finish(completed=self.error is None and not self._cancelled.is_set(),
                              error=self.error)
            self._live.close()
            self._live.report()
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Cancel a running MDA, deliver what was queued, then tear the core down."""
        core = self._core
        try:
            if core is not None and core.mda.is_running():
                self._cancelled.set()
                core.mda.cancel()
            if self._thread is not None:
                self._thread.join(timeout)
            if self._live is not None:
                self._live.close(timeout)
        finally:
            if core is not None:
                core.mda.events.frameReady.disconnect(self._on_frame)
                core.mda.events.sequenceCanceled.disconnect(self._on_cancelled)
            self._core = None
            self.provider.close()

    def counts(self) -> SourceCounts:
        return self._live.source_counts() if self._live is not None else SourceCounts()

    def health(self) -> SourceHealth:
        """The acquisition's failure, if any, for the pipeline's ``source`` alert."""
        return acquisition_health(self.error, self._done.is_set())

    def acquisition_counts(self) -> AcquisitionCounts | None:
        return self._live.acquisition_counts() if self._live is not None else None
