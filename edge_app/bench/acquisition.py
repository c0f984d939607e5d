"""A simulated microscope writing a plate into a folder on its own thread, while the app
watches that folder (the demo and ``sentinel bench alerts`` both run plates this way)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class SimulatedAcquisition:
    """Runs the plate simulator on a thread; ``finished``, ``result`` and ``error`` report."""

    def __init__(self, folder: Path, wells: Mapping[str, Mapping[str, str]], sim: Any,
                 renderer: Any | None = None) -> None:
        self.folder, self.wells, self.sim, self.renderer = folder, wells, sim, renderer
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
        return bool(status.processed + status.failed + status.duplicates >= self.n_frames)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self.error is not None:
            raise RuntimeError(f"the simulated microscope failed: {self.error}")
