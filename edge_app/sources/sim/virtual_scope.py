"""The virtual plate microscope: a ``UniMMCore`` with Python camera, XY stage and shutter.

It is configured through a generated Micro-Manager ``.cfg`` file, so
``UniMMCore.loadSystemConfiguration`` is exercised exactly as with real hardware. Used by
``sentinel watch --source mm-virtual``, ``sentinel doctor --mm`` and the tests.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_app.sources.mm.plate_plan import PlatePlan
from edge_app.sources.mm.pymmcore_source import create_core, release_core
from edge_app.sources.sim.virtual_devices import PlateScene, register_scene, unregister_scene

log = logging.getLogger(__name__)

CAMERA, XY_STAGE, SHUTTER = "Camera", "XY", "Shutter"
_DEVICES = "edge_app.sources.sim.virtual_devices"


def scope_config(scene: str, *, exposure_ms: float = 10.0) -> str:
    """The ``.cfg`` text of the virtual microscope (Python devices on ``#py`` lines)."""
    lines = [
        "# Spheroid Sentinel virtual plate microscope (pymmcore-plus UniMMCore only)",
        "Property,Core,Initialize,0",
        f"#py pyDevice,{CAMERA},{_DEVICES},PlateCamera",
        f"#py pyDevice,{XY_STAGE},{_DEVICES},PlateXYStage",
        f"#py pyDevice,{SHUTTER},{_DEVICES},PlateShutter",
        f"#py Property,{CAMERA},Scene,{scene}",
        f"#py Property,{XY_STAGE},Scene,{scene}",
        "Property,Core,Initialize,1",
        f"#py Property,{CAMERA},Exposure,{exposure_ms:g}",
        f"#py Property,Core,Camera,{CAMERA}",
        f"#py Property,Core,XYStage,{XY_STAGE}",
        f"#py Property,Core,Shutter,{SHUTTER}",
        "Property,Core,AutoShutter,1",
        "",
    ]
    return "\n".join(lines)


def write_scope_config(path: Path, scene: str, *, exposure_ms: float = 10.0) -> Path:
    """Write :func:`scope_config` to ``path`` and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(scope_config(scene, exposure_ms=exposure_ms), encoding="utf-8")
    return path


def scene_labels(plate: Any | None) -> dict[str, dict[str, str]]:
    """Well -> labels of a ``PlateProtocol`` (empty without a plate map)."""
    if plate is None:
        return {}
    return {well: dict(protocol.labels) for well, protocol in plate.wells.items()}


class VirtualPlateMicroscope:
    """A :class:`~edge_app.sources.mm.pymmcore_source.CoreProvider` imaging a simulated plate.

    ``open()`` registers the scene, writes the ``.cfg`` and loads it into a new
    ``UniMMCore``; ``close()`` unloads the devices and removes both again.
    """

    def __init__(
        self,
        plan: PlatePlan,
        *,
        plate: Any | None = None,
        plate_id: str = "virtual",
        seed: int = 0,
        frame_size: int = 256,
        faults: Sequence[tuple[str, int, int]] = (),
    ) -> None:
        self.scene = PlateScene(
            plan.geometry, sites=plan.sites, hours=plan.hours or (24.0,),
            labels=scene_labels(plate), plate_id=plate_id, seed=seed,
            shape=(frame_size, frame_size), faults=faults,
        )
        self.core: Any = None
        self.config_path: Path | None = None
        self._scene_name: str | None = None
        self._workdir: Path | None = None

    def open(self) -> Any:
        self._scene_name = register_scene(self.scene)
        self._workdir = Path(tempfile.mkdtemp(prefix="sentinel-scope-"))
        self.config_path = write_scope_config(self._workdir / "virtual_plate.cfg",
                                              self._scene_name)
        try:
            self.core = create_core(self.config_path, unicore=True, adapter_path=self._workdir)
        except Exception:
            self.close()
            raise
        log.info("virtual plate microscope ready (%s)", self.config_path)
        return self.core

    def close(self) -> None:
        core, self.core = self.core, None
        try:
            if core is not None:
                release_core(core)
        finally:
            if self._scene_name is not None:
                unregister_scene(self._scene_name)
                self._scene_name = None
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    def __enter__(self) -> Any:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
