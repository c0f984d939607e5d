"""Pure-Python Micro-Manager devices of the virtual plate microscope (pymmcore-plus unicore).

A :class:`PlateScene` is the plate on the stage: the XY stage moves over it, the camera
renders the spheroid under the objective with the synthetic atlas renderer. Each visit of a
position advances that spheroid's simulated time to the next of the scene's ``hours`` (a
time-lapse with the hours between visits compressed), so frames are deterministic.

Devices are created by ``UniMMCore.loadSystemConfiguration`` with no arguments, so they find
their scene by name (the ``Scene`` property, default ``"default"``) in a small registry.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_app.sources.mm.plate_plan import PLATE_GEOMETRIES, PlateGeometry
from edge_app.sources.mm.pymmcore_source import import_pymmcore_plus

if TYPE_CHECKING:
    from pymmcore_plus.experimental.unicore import (
        ShutterDevice,
        SimpleCameraDevice,
        XYStageDevice,
        pymm_property,
    )
else:  # importing pymmcore-plus must not change the application's logging
    _unicore = import_pymmcore_plus("pymmcore_plus.experimental.unicore")
    ShutterDevice, SimpleCameraDevice = _unicore.ShutterDevice, _unicore.SimpleCameraDevice
    XYStageDevice, pymm_property = _unicore.XYStageDevice, _unicore.pymm_property

log = logging.getLogger(__name__)

#: Labels of wells the plate map does not list (and of label columns it leaves blank).
DEFAULT_LABELS: dict[str, str] = {
    "cell_line": "HCT116", "culture_medium": "DMEMF12", "seeding_density": "2000",
    "formation_method": "LiquidOverlay-ULA", "microscope": "OperaPhenix",
    "magnification": "10X", "biological_rep": "B1", "technical_rep": "T1",
}


class CameraFault(RuntimeError):
    """A simulated camera error at a chosen (well, site, visit)."""


class PlateScene:
    """The plate under the virtual microscope: stage position, spheroids, simulated time."""

    def __init__(
        self,
        geometry: PlateGeometry = PLATE_GEOMETRIES[96],
        *,
        sites: int = 1,
        hours: Sequence[float] = (24.0,),
        labels: Mapping[str, Mapping[str, str]] | None = None,
        plate_id: str = "virtual",
        seed: int = 0,
        shape: tuple[int, int] = (256, 256),
        faults: Sequence[tuple[str, int, int]] = (),
    ) -> None:
        from edge_app.simulation import SpheroidRenderer

        self.geometry, self.sites, self.hours = geometry, sites, tuple(float(h) for h in hours)
        self.labels = {w: dict(v) for w, v in (labels or {}).items()}
        self.plate_id, self.seed, self.shape = plate_id, seed, shape
        self.faults = frozenset(faults)
        self.renderer = SpheroidRenderer()
        self.position = (0.0, 0.0)
        self.visits: Counter[tuple[str, int]] = Counter()
        self._rows: dict[str, Any] = {}
        self._lock = threading.Lock()

    def move_to(self, x_um: float, y_um: float) -> None:
        with self._lock:
            self.position = (float(x_um), float(y_um))

    def _row(self, well: str, hours: float) -> Any:
        if well not in self._rows:
            given = {k: v for k, v in self.labels.get(well, {}).items() if v not in ("", None)}
            try:
                self._rows[well] = self.renderer.vocab.row_from_mapping(
                    {**DEFAULT_LABELS, **given}, 0.0)
            except ValueError as exc:
                log.warning("well %s: %s; rendering the default protocol", well, exc)
                self._rows[well] = self.renderer.vocab.row_from_mapping(DEFAULT_LABELS, 0.0)
        return self._rows[well].with_labels(hours=hours)

    def snap(self) -> np.ndarray:
        """Render what is under the objective now (uint16); an empty field off the plate."""
        from edge_app.simulation import Artefacts, identity_seed
        from edge_app.simulation.timeseries import frame_seed

        with self._lock:
            place = self.geometry.locate(*self.position, sites=self.sites)
            visit = self.visits[place] if place else 0
            if place:
                self.visits[place] += 1
        well, site = place or ("A1", 0)
        if place and (well, site, visit) in self.faults:
            raise CameraFault(f"simulated camera fault at {well}-Site_{site}, visit {visit}")
        hours = self.hours[min(visit, len(self.hours) - 1)]
        identity = identity_seed(self.seed, self.plate_id, well, site)
        image = self.renderer.render(
            self._row(well, hours), frame_seed(identity, visit), self.shape,
            identity_seed=identity, artefacts=Artefacts(empty=place is None),
        ).image
        return image.astype(np.uint16) * 257 if image.dtype == np.uint8 else image


_SCENES: dict[str, PlateScene] = {}
_SCENES_LOCK = threading.Lock()


def register_scene(scene: PlateScene, name: str | None = None) -> str:
    """Make ``scene`` findable by the devices; returns its name (for the ``Scene`` property)."""
    name = name or f"scene-{uuid.uuid4().hex[:12]}"
    with _SCENES_LOCK:
        _SCENES[name] = scene
    return name


def unregister_scene(name: str) -> None:
    with _SCENES_LOCK:
        _SCENES.pop(name, None)


def get_scene(name: str) -> PlateScene:
    """The scene called ``name``; ``"default"`` is created on first use (a default plate)."""
    with _SCENES_LOCK:
        if name == "default" and name not in _SCENES:
            _SCENES[name] = PlateScene()
        if name not in _SCENES:
            raise KeyError(f"no virtual plate scene {name!r}; registered: {sorted(_SCENES)}")
        return _SCENES[name]


class _SceneDevice:
    """Mixin: a ``Scene`` string property naming the registered scene."""

    _scene_name = "default"

    @pymm_property(name="Scene", is_pre_init=True)
    def scene(self) -> str:
        return self._scene_name

    @scene.setter  # type: ignore[no-redef]
    def scene(self, value: str) -> None:
        get_scene(str(value))  # fail at configuration time, not at the first snap
        self._scene_name = str(value)

    @property
    def plate(self) -> PlateScene:
        return get_scene(self._scene_name)


class PlateCamera(_SceneDevice, SimpleCameraDevice):
    """A bright-field camera that renders the spheroid under the objective (uint16)."""

    _exposure = 10.0

    def get_exposure(self) -> float:
        return self._exposure

    def set_exposure(self, exposure: float) -> None:
        self._exposure = float(exposure)

    def sensor_shape(self) -> tuple[int, int]:
        return self.plate.shape

    def dtype(self) -> Any:
        return np.uint16

    def snap(self, buffer: np.ndarray) -> Mapping[str, Any]:
        buffer[:] = self.plate.snap()
        return {"Scene": self._scene_name}


class PlateXYStage(_SceneDevice, XYStageDevice):
    """An XY stage over the scene's plate (micrometres, SBS coordinates)."""

    def set_position_um(self, x: float, y: float) -> None:
        self.plate.move_to(x, y)

    def get_position_um(self) -> tuple[float, float]:
        return self.plate.position

    def set_origin_x(self) -> None:
        """The virtual stage's origin is the plate's corner; nothing to zero."""

    def set_origin_y(self) -> None:
        """The virtual stage's origin is the plate's corner; nothing to zero."""

    def home(self) -> None:
        self.plate.move_to(0.0, 0.0)

    def stop(self) -> None:
        """Moves are instantaneous; nothing to stop."""


class PlateShutter(ShutterDevice):
    """A transmitted-light shutter (the MDA engine needs one to acquire at all)."""

    _open = False

    def get_open(self) -> bool:
        return self._open

    def set_open(self, open: bool) -> None:
        self._open = bool(open)
