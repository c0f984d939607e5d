"""``PycromanagerSource``: drive a plate acquisition through pycromanager.

The only module that imports pycromanager (lazily). Three ways to run it:

- Java backend (default): attach to a running Micro-Manager over ZMQ (port 4827). The port
  is probed first, so a closed server gives one message saying what to switch on instead of
  pycromanager's tracebacks.
- :class:`HeadlessPythonBackend`: ``start_headless(..., python_backend=True)`` with real
  device adapters and a ``.cfg`` file.
- :class:`PythonBackend`: pycromanager's Python engine (AcqEngPy) on a pymmcore-plus core
  from a provider (e.g. the virtual plate microscope); the shim of micromanager.md §1.4.

``image_process_fn`` copies each image into the hand-off queue and returns it unchanged, so
Micro-Manager still saves it; it never waits on inference. ``acquisition_factory`` replaces
``pycromanager.Acquisition`` in tests (DESIGN.md seams).
"""

from __future__ import annotations

import gc
import logging
import re
import socket
import threading
import types
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
from edge_app.sources.mm.pymmcore_source import CoreProvider, _utcnow

log = logging.getLogger(__name__)

MM_PORT = 4827


class MicroManagerUnreachable(ConnectionError):
    """No Micro-Manager ZMQ server to attach to; the message says what to switch on."""


def mm_server_up(port: int = MM_PORT, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port`` (no pyjavaz involved)."""
    with socket.socket() as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def unreachable_message(port: int = MM_PORT, host: str = "127.0.0.1") -> str:
    return (
        f"Micro-Manager is not reachable on {host}:{port}. Start Micro-Manager, then in "
        f"Tools > Options tick \"Run server on port {MM_PORT}\" (restart Micro-Manager if it "
        "was just enabled), and allow the port through the firewall. Alternatives: watch the "
        "folder Micro-Manager saves to (sentinel watch FOLDER), or drive the hardware "
        "headless (sentinel watch --source pymmcore --mm-config FILE.cfg)."
    )


def probe_micromanager(port: int = MM_PORT, host: str = "127.0.0.1") -> None:
    """Raise :class:`MicroManagerUnreachable` unless the ZMQ server answers."""
    if not mm_server_up(port, host):
        raise MicroManagerUnreachable(unreachable_message(port, host))


class Backend(Protocol):
    """Starts and stops a pycromanager backend in this process (Python backends only)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _snake(name: str) -> str:
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def _snake_case_class(base: type) -> type:
    """A subclass of ``base`` with the snake_case method names AcqEngPy calls."""
    aliases = {
        _snake(n): getattr(base, n) for n in dir(base)
        if n[:1].islower() and _snake(n) != n and not hasattr(base, _snake(n))
    }
    return type(f"SnakeCase{base.__name__}", (base,), aliases)


def _adapt_core(core: Any) -> None:
    """Give a pymmcore-plus core what pycromanager's Python engine expects (§1.4)."""
    from mmpycorex.launcher import TaggedImage

    core.__class__ = _snake_case_class(type(core))

    def get_tagged_image(self: Any, channel: int, camera: str, height: int, width: int,
                         **_: Any) -> Any:
        tags = {"Camera": camera, "Height": height, "Width": width, "PixelType": "GRAY16",
                "CameraChannelIndex": channel}
        return TaggedImage(tags, self.getImage())

    def pop_next_tagged_image(self: Any) -> Any:
        image, meta = self.popNextImageAndMD()
        tags = dict(meta)
        tags.setdefault("Camera", self.getCameraDevice())
        return TaggedImage(tags, image)

    core.get_tagged_image = types.MethodType(get_tagged_image, core)
    core.pop_next_tagged_image = types.MethodType(pop_next_tagged_image, core)
    core.TaggedImage = TaggedImage  # the engine builds its end sentinel with it (else: hang)
    # A no-op since MMCore 11.13 that pymmcore-plus marks deprecated; AcqEngPy still calls it.
    core.prepare_sequence_acquisition = types.MethodType(lambda self, camera: None, core)


def _drop_engine() -> None:
    """Shut pycromanager's engine singleton down and forget it (else the next run fails)."""
    from mmpycorex import launcher
    from pycromanager.acquisition.acq_eng_py.internal.engine import Engine

    engine = Engine.get_instance()
    if engine is not None:
        engine.shutdown()
    if hasattr(Engine, "singleton"):
        del Engine.singleton
    launcher._PYMMCORES.clear()


class PythonBackend:
    """pycromanager's Python backend on a core from ``provider`` (pins: pyproject ``mm``)."""

    def __init__(self, provider: CoreProvider) -> None:
        self.provider = provider
        self.core: Any = None

    def start(self) -> None:
        from mmpycorex import launcher
        from pycromanager.acquisition.acq_eng_py.internal.engine import Engine

        self.core = self.provider.open()
        _adapt_core(self.core)
        launcher._PYMMCORES.append(self.core)  # what start_headless(python_backend=True) does
        Engine(self.core)

    def stop(self) -> None:
        try:
            _drop_engine()
        finally:
            self.core = None
            self.provider.close()
            gc.collect()


class HeadlessPythonBackend:
    """``start_headless(mm_app_path, config_file, python_backend=True)``: real adapters."""

    def __init__(self, mm_app_path: Path, config_file: Path) -> None:
        self.mm_app_path, self.config_file = Path(mm_app_path), Path(config_file)

    def start(self) -> None:
        from pycromanager import start_headless

        if not self.config_file.is_file():
            raise FileNotFoundError(f"Micro-Manager configuration not found: {self.config_file}")
        start_headless(str(self.mm_app_path), str(self.config_file), python_backend=True)

    def stop(self) -> None:
        from pycromanager import stop_headless

        try:
            stop_headless()
        finally:
            _drop_engine()
            gc.collect()


def _pycromanager_acquisition(**kwargs: Any) -> Any:
    from pycromanager import Acquisition

    return Acquisition(**kwargs)


class PycromanagerSource:
    """Runs ``plan`` as one pycromanager ``Acquisition``; finite: ``wait()`` turns True."""

    def __init__(
        self,
        plan: PlatePlan,
        *,
        backend: Backend | None = None,
        directory: Path | None = None,
        acq_name: str = "sentinel",
        port: int = MM_PORT,
        host: str = "127.0.0.1",
        acquisition_factory: Callable[..., Any] | None = None,
        plate_id: str | None = None,
        handoff_size: int = 256,
        name: str = "pycromanager",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.name, self.plan, self.backend = name, plan, backend
        self.directory, self.acq_name, self.port, self.host = directory, acq_name, port, host
        self.factory = acquisition_factory
        self.plate_id, self.handoff_size, self.clock = plate_id, handoff_size, clock
        self.error: BaseException | None = None
        self._live: LiveFrames | None = None
        self._acq: Any = None
        self._aborted = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_backend = False
        self._writer_readers: dict[int, Any] = {}

    def open(self, sink: FrameSink) -> None:
        if self.backend is None and self.factory is None:
            probe_micromanager(self.port, self.host)
        if self.backend is not None:
            self.backend.start()
            self._started_backend = True
        factory = self.factory or _pycromanager_acquisition
        self._live = LiveFrames(self.plan, source=self.name, plate_id=self.plate_id,
                                maxsize=self.handoff_size, clock=self.clock)
        self._live.start(sink)
        self._thread = threading.Thread(target=self._run, args=(factory,), daemon=True,
                                        name=f"{self.name}-acquisition")
        self._thread.start()

    def _kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "directory": str(self.directory) if self.directory else None, "name": self.acq_name,
            "image_process_fn": self._hook,
        }
        if self.backend is None:
            kwargs.update(show_display=False, port=self.port)
        if self.directory:
            kwargs["image_saved_fn"] = self._saved
        return kwargs

    def _saved(self, axes: dict, dataset: Any) -> None:
        """image_saved_fn: keep the NDTiff writer's reader to close it at the end.

        ndstorage 0.1.18's writer opens a reader it never closes (a ResourceWarning when the
        Python backend saves); the Java backend's dataset has no writer and is left alone.
        """
        writer = getattr(dataset, "current_writer", None)
        if writer is not None and getattr(writer, "reader", None) is not None:
            self._writer_readers[id(writer.reader)] = writer.reader

    def _close_dataset(self) -> None:
        """Close the files our saved dataset left open (its readers and the writer's)."""
        for reader in self._writer_readers.values():
            reader.close()
        self._writer_readers.clear()
        get_dataset = getattr(self._acq, "get_dataset", None)
        if self.directory and get_dataset is not None:
            get_dataset().close()

    def _run(self, factory: Callable[..., Any]) -> None:
        assert self._live is not None
        try:
            self._acq = factory(**self._kwargs())
            if self._aborted.is_set():
                self._acq.abort()
            else:
                self._acq.acquire(self.plan.to_pycromanager_events())
                self._acq.mark_finished()
            self._acq.await_completion()
            self._close_dataset()
        except Exception as exc:  # recorded; what arrived is still delivered
            self.error = exc
            log.error("%s: the acquisition failed: %s: %s", self.name, type(exc).__name__, exc)
        finally:
            self._live.finish(completed=self.error is None and not self._aborted.is_set(),
                              error=self.error)
            self._live.close()
            self._live.report()
            self._done.set()

    def _hook(self, image: np.ndarray, metadata: dict) -> tuple[np.ndarray, dict]:
        """image_process_fn: copy into the hand-off queue, return the image for saving."""
        assert self._live is not None
        timed_hook(self._live, lambda: _capture(image, metadata))
        return image, metadata

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Abort a running acquisition, deliver what was queued, stop the backend."""
        try:
            if not self._done.is_set():
                self._aborted.set()
                if self._acq is not None:
                    self._acq.abort()
            if self._thread is not None:
                self._thread.join(timeout)
            if self._live is not None:
                self._live.close(timeout)
        finally:
            self._acq = None
            if self._started_backend and self.backend is not None:
                self._started_backend = False
                self.backend.stop()

    def counts(self) -> SourceCounts:
        return self._live.source_counts() if self._live is not None else SourceCounts()

    def health(self) -> SourceHealth:
        """The acquisition's failure, if any, for the pipeline's ``source`` alert."""
        return acquisition_health(self.error, self._done.is_set())

    def acquisition_counts(self) -> AcquisitionCounts | None:
        return self._live.acquisition_counts() if self._live is not None else None


def _capture(image: np.ndarray, metadata: dict) -> LiveImage:
    """Pixels and place of one pycromanager image (``Axes``, ``PositionName``, elapsed)."""
    axes = metadata.get("Axes") or {}
    label = metadata.get("PositionName") or axes.get("position")
    elapsed = metadata.get("ElapsedTime-ms")
    size = metadata.get("PixelSize_um")
    return LiveImage(
        np.array(image, copy=True), str(label) if label is not None else None,
        int(axes["time"]) if "time" in axes else None,
        float(elapsed) if elapsed is not None else None,
        float(size) if size else None,
    )


def acquire_test_frame(port: int = MM_PORT, host: str = "127.0.0.1") -> np.ndarray:
    """One frame through a pycromanager ``Acquisition`` on the running Micro-Manager.

    The event has no stage position, so nothing moves. Used by ``sentinel doctor --mm``.
    """
    probe_micromanager(port, host)
    from pycromanager import Acquisition

    frames: list[np.ndarray] = []

    def keep(image: np.ndarray, metadata: dict) -> tuple[np.ndarray, dict]:
        frames.append(np.array(image, copy=True))
        return image, metadata

    with Acquisition(directory=None, name="sentinel-doctor", image_process_fn=keep,
                     show_display=False, port=port) as acq:
        acq.acquire({"axes": {"time": 0}})
    if not frames:
        raise RuntimeError("the acquisition finished without an image; is a camera set?")
    return frames[0]
