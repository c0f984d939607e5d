"""NDTiff datasets under the watched folder, followed through their index while written.

Each dataset folder gets one :class:`NDTiffTail`. An entry whose pixels are not readable yet
(the writer has not flushed them) is retried until ``give_up_s`` has passed, then recorded as
failed with its reason. Used by :class:`~edge_app.sources.folder.source.FolderSource` on its
checker thread only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from edge_app.core.frames import Frame, FrameFailure
from edge_app.sources.folder.meta import entry_frame
from edge_app.sources.folder.ndtiff_live import INDEX_FILE, NDTiffEntry, NDTiffTail
from edge_app.sources.naming import NameParser
from edge_app.sources.readers import UnreadableFrame

log = logging.getLogger(__name__)


class DatasetTails:
    """The NDTiff datasets being followed, and their entries waiting for their pixels."""

    def __init__(
        self,
        root: Path,
        *,
        names: NameParser | None,
        give_up_s: float,
        clock: Callable[[], float],
        is_known: Callable[[str], bool],
        deliver: Callable[[Frame | FrameFailure], None],
        seen: Callable[[], None],
    ) -> None:
        self.root, self.names, self.give_up_s, self.clock = root, names, give_up_s, clock
        self._is_known, self._deliver, self._seen = is_known, deliver, seen
        self.tails: dict[Path, NDTiffTail] = {}
        self.dirty: set[Path] = set()
        self.retries: dict[str, tuple[NDTiffTail, NDTiffEntry, float]] = {}

    def covers(self, folder: Path) -> bool:
        """True when ``folder`` is a dataset followed through its index (not as files)."""
        return folder in self.tails

    def poll(self, *, everything: bool, stop: Callable[[], bool]) -> None:
        """Read new index entries of datasets marked dirty (all of them when ``everything``)."""
        dirty, self.dirty = self.dirty, set()
        if everything:
            dirty |= set(self.tails)
        for folder in dirty:
            tail = self.tails.get(folder)
            if tail is None:
                if not (folder / INDEX_FILE).is_file():
                    continue
                tail = self.tails[folder] = NDTiffTail(folder)
                log.info("following NDTiff dataset %s", folder)
            for entry in tail.poll():
                if stop():
                    return
                self._entry(tail, entry)

    def retry(self) -> None:
        """Try again the entries whose pixels were not readable yet."""
        retries, self.retries = self.retries, {}
        for tail, entry, started in retries.values():
            self._entry(tail, entry, started)

    def _entry(self, tail: NDTiffTail, entry: NDTiffEntry, first_failed: float | None = None
               ) -> None:
        if first_failed is None:
            self._seen()
            if self._is_known(entry.uri):
                return
        try:
            frame = entry_frame(tail, entry, self.root, self.names)
        except UnreadableFrame as exc:
            now = self.clock()
            started = now if first_failed is None else first_failed
            if now - started >= self.give_up_s:  # pixels never became readable
                self._deliver(FrameFailure(entry.uri, exc.reason))
            else:  # the writer may not have flushed the pixels yet
                self.retries[entry.uri] = (tail, entry, started)
            return
        except OSError as exc:  # the dataset vanished or cannot be opened: fail this entry
            self._deliver(FrameFailure(entry.uri, f"cannot read NDTiff entry: {exc}"))
            return
        self._deliver(frame)

    def close(self) -> None:
        for tail in self.tails.values():
            tail.close()
        self.tails.clear()
