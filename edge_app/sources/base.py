"""The ``FrameSource`` seam: a source produces frames on its own thread and hands them on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edge_app.core.frames import Frame, FrameFailure

#: Receives each frame or failure. May block: that is the pipeline's backpressure.
FrameSink = Callable[[Frame | FrameFailure], None]

#: ``is_known(uri, size, mtime_ns)``: True when the store already holds this file, so a
#: restart does not re-read it. NDTiff entries and live frames pass ``size = mtime_ns = -1``.
KnownCheck = Callable[[str, int, int], bool]


@dataclass(frozen=True)
class SourceCounts:
    """Frames seen, handed on, failed and skipped as already known (no silent loss)."""

    seen: int = 0
    emitted: int = 0
    failed: int = 0
    skipped_known: int = 0


@dataclass(frozen=True)
class SourceHealth:
    """What a source's threads are doing, for the status line and the pipeline's supervisor.

    ``alive`` is False when a thread that should run has died (the supervisor restarts the
    source); ``errors`` counts errors so far and ``error`` names the latest, each of which the
    supervisor turns into one ``source`` alert; ``state`` is one line for people.
    """

    alive: bool = True
    state: str = "running"
    error: str | None = None
    errors: int = 0


@runtime_checkable
class FrameSource(Protocol):
    """Lifecycle: ``open(sink)`` starts producing; ``close()`` stops and joins threads.

    ``wait(timeout)`` returns True once a finite source has delivered everything (a folder
    source in ``once`` mode, a finished acquisition); live sources return False until closed.
    Optional (found with ``getattr``): ``health() -> SourceHealth`` and ``restart()``, which
    the pipeline's supervisor (``edge_app.pipeline.supervise``) uses.
    """

    name: str

    def open(self, sink: FrameSink) -> None: ...

    def wait(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...

    def counts(self) -> SourceCounts: ...
