"""Frame sources, one sub-package per family.

- ``folder``: a folder the microscope saves to (``FolderSource``; TIFF, OME-TIFF, MM
  single-TIFF + ``metadata.txt``, NDTiff, PNG, JPEG).
- ``mm``: live Micro-Manager acquisitions of a plate plan (``PymmcorePlusSource``,
  ``PycromanagerSource``) and their hand-off to the pipeline.
- ``sim``: simulated microscopes (``VirtualPlateMicroscope``) and ``ReplaySource``.

Shared here: the ``FrameSource`` seam (``base``), image readers and file-name patterns. The
public names below import lazily, so ``import edge_app.sources`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "FrameSource": "edge_app.sources.base",
    "FrameSink": "edge_app.sources.base",
    "KnownCheck": "edge_app.sources.base",
    "SourceCounts": "edge_app.sources.base",
    "SourceHealth": "edge_app.sources.base",
    "FolderSource": "edge_app.sources.folder.source",
    "PymmcorePlusSource": "edge_app.sources.mm.pymmcore_source",
    "ConfiguredCore": "edge_app.sources.mm.pymmcore_source",
    "PycromanagerSource": "edge_app.sources.mm.pycromanager_source",
    "MicroManagerUnreachable": "edge_app.sources.mm.pycromanager_source",
    "PlatePlan": "edge_app.sources.mm.plate_plan",
    "make_plate_plan": "edge_app.sources.mm.plate_plan",
    "VirtualPlateMicroscope": "edge_app.sources.sim.virtual_scope",
    "ReplaySource": "edge_app.sources.sim.replay",
    "UnreadableFrame": "edge_app.sources.readers",
    "read_image": "edge_app.sources.readers",
    "get_name_pattern": "edge_app.sources.naming",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_app.sources' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
