"""A simulated microscope writing a plate into a folder on its own thread, while the app
watches that folder (the demo and ``sentinel bench alerts`` both run plates this way)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class SimulatedAcquisition:
    """Runs the plate simulator on a thread; ``finished``, ``result`` and ``error`` report."""

    def __init__(self, folder: Path, wells: Mapping[str, Mapping[str, str]], sim: Any,
                 renderer: Any | None = None, *, idle_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.folder, self.wells, self.sim, self.renderer = folder, wells, sim, renderer
        self.idle_s, self.clock = idle_s, clock
        self._progress = (-1, 0.0)
        self.result: Any = None
        self.error: BaseException | None = None
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-microscope",
                                        daemon=True)

    @property
    def n_frames(self) -> int:
        return len(self.wells) * len(self.sim.hours) * self.sim.sites

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from edge_app.simulation.plate_sim import simulate_plate

        try:
            self.result = simulate_plate(self.folder, self.wells, self.sim,
                                         renderer=self.renderer)
        except BaseException as exc:  # reported by the caller; the watcher must still stop
            log.error("simulated microscope failed: %s", exc)
            self.error = exc
        finally:
            self.finished.set()

    def done(self, status: Any) -> bool:
        """A ``stop_when`` for the live run: every frame written has been handled."""
        if not self.finished.is_set():
            return False
        if self.error is not None:
            return True
        handled = status.processed + status.failed + status.duplicates
        if handled >= self.n_frames:
            return True
        if handled != self._progress[0]:
            self._progress = (handled, self.clock())
        elif self.clock() - self._progress[1] > self.idle_s:
            log.warning("%d of %d frames handled and none for %.0f s; stopping the run",
                        handled, self.n_frames, self.idle_s)
            return True
        return False

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self.error is not None:
            raise RuntimeError(f"the simulated microscope failed: {self.error}")
