"""Which file system holds the watched folder: a network share does not deliver change events
for files written by another PC, so the folder source must poll there.

Linux: the longest mount point of ``/proc/mounts`` above the folder and its type.
Windows: a UNC path (``\\\\server\\share``) or ``GetDriveTypeW`` of the drive = DRIVE_REMOTE.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PureWindowsPath

#: Types whose change events are missing or unreliable for writes from elsewhere.
NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "drvfs", "vboxsf",
    "fuse.sshfs", "sshfs", "davfs", "fuse.davfs2", "glusterfs", "fuse.glusterfs", "ceph",
    "fuse.ceph", "lustre", "gpfs", "fuse.s3fs", "fuse.rclone", "fuse.vmhgfs-fuse",
})
#: ``GetDriveTypeW`` results (winbase.h).
DRIVE_TYPES = {0: "unknown", 1: "no root directory", 2: "removable", 3: "fixed", 4: "remote",
               5: "cd-rom", 6: "ram disk"}
DRIVE_REMOTE = 4


@dataclass(frozen=True)
class FolderFileSystem:
    """Where a folder lives: ``kind`` is the mount type (ext4, cifs) or Windows drive type."""

    folder: str
    mount: str
    kind: str
    device: str
    network: bool

    def describe(self) -> str:
        where = "network share" if self.network else "local file system"
        device = f" from {self.device}" if self.device else ""
        return f"{where} ({self.kind}{device}, mounted at {self.mount})"


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[tuple[str, str, str]]:
    """``(device, mount point, type)`` per line of ``/proc/mounts``."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            mounts.append((_unescape(fields[0]), _unescape(fields[1]), fields[2]))
    return mounts


def linux_filesystem(folder: Path, mounts_text: str) -> FolderFileSystem | None:
    """The mount holding ``folder`` (already resolved): the longest matching mount point."""
    parts = PurePath(folder).parts
    best: tuple[str, str, str] | None = None
    for device, mount, kind in parse_mounts(mounts_text):
        mount_parts = PurePath(mount).parts
        if parts[:len(mount_parts)] == mount_parts and (
                best is None or len(mount_parts) >= len(PurePath(best[1]).parts)):
            best = (device, mount, kind)
    if best is None:
        return None
    device, mount, kind = best
    return FolderFileSystem(str(folder), mount, kind, device, kind in NETWORK_TYPES)


def windows_filesystem(folder: str, drive_type: Callable[[str], int]) -> FolderFileSystem:
    """UNC paths are shares; a drive letter is asked ``drive_type`` (``GetDriveTypeW``)."""
    path = PureWindowsPath(folder)
    if path.drive.startswith("\\\\"):
        return FolderFileSystem(folder, path.drive, "remote", path.drive, True)
    root = path.drive + "\\"
    code = drive_type(root)
    return FolderFileSystem(folder, root, DRIVE_TYPES.get(code, f"type {code}"), "",
                            code == DRIVE_REMOTE)


def _get_drive_type(root: str) -> int:  # pragma: no cover - Windows only
    import ctypes

    return int(ctypes.windll.kernel32.GetDriveTypeW(ctypes.c_wchar_p(root)))  # type: ignore[attr-defined]


def folder_filesystem(folder: Path, platform: str = sys.platform) -> FolderFileSystem | None:
    """The file system of ``folder`` on this PC; ``None`` where it cannot be told."""
    if platform == "win32":
        return windows_filesystem(str(folder.resolve()), _get_drive_type)
    if platform.startswith("linux"):
        try:
            text = Path("/proc/mounts").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return linux_filesystem(folder.resolve(), text)
    return None
