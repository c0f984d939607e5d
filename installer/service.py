"""``python3 -m installer service install|status|remove|run``: keep the sentinel running.

Linux: a systemd user unit (started with the PC when lingering is on, else at login;
restarted on failure). Windows: a Task Scheduler task at logon that runs :func:`supervise`,
which restarts the sentinel whenever it exits with an error. Standard library only.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from installer.service_files import (
    RESTART_S,
    TASK_NAME,
    UNIT_NAME,
    ServiceError,
    ServiceSpec,
    read_settings,
    store_of,
    systemd_unit,
    task_xml,
)

Runner = Callable[[list[str]], subprocess.CompletedProcess]


def run_quietly(cmd: list[str]) -> subprocess.CompletedProcess:
    """Run ``cmd`` capturing its output; a missing program is exit status 127, not a crash."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(cmd, 127, "", f"{type(exc).__name__}: {exc}")


def _said(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout or "").strip().splitlines()
    return text[-1] if text else f"exit status {result.returncode}"


class SystemdUserService:
    """The unit in ``~/.config/systemd/user``, managed with ``systemctl --user``."""

    def __init__(self, unit_dir: Path | None = None, run: Runner = run_quietly,
                 user: str | None = None) -> None:
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        self.unit_dir = unit_dir or config_home / "systemd" / "user"
        self.unit_path = self.unit_dir / UNIT_NAME
        self.run = run
        self.user = user or os.environ.get("USER") or os.environ.get("LOGNAME") or ""

    def preview(self, spec: ServiceSpec) -> str:
        return systemd_unit(spec)

    def install(self, spec: ServiceSpec) -> tuple[int, list[str]]:
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        self.unit_path.write_text(systemd_unit(spec), encoding="utf-8")
        lines = [f"wrote {self.unit_path}"]
        reload = self.run(["systemctl", "--user", "daemon-reload"])
        enable = (self.run(["systemctl", "--user", "enable", "--now", UNIT_NAME])
                  if reload.returncode == 0 else reload)
        if enable.returncode != 0:
            lines += [f"could not start it: the systemd user manager is not reachable "
                      f"({_said(enable)}).",
                      f"In a desktop or SSH session of this user run: systemctl --user "
                      f"daemon-reload && systemctl --user enable --now {UNIT_NAME}"]
            return 1, lines
        lines.append(f"enabled and started {UNIT_NAME} (restarts on failure)")
        linger = self.run(["loginctl", "enable-linger", self.user])
        lines.append("lingering on: it starts with the PC, before anyone logs in"
                     if linger.returncode == 0 else
                     f"it starts when {self.user or 'this user'} logs in; to start it with the "
                     f"PC run: sudo loginctl enable-linger {self.user} ({_said(linger)})")
        return 0, lines

    def status(self) -> tuple[int, list[str]]:
        if not self.unit_path.is_file():
            return 1, [f"not installed (no {self.unit_path})"]
        enabled = self.run(["systemctl", "--user", "is-enabled", UNIT_NAME])
        active = self.run(["systemctl", "--user", "is-active", UNIT_NAME])
        state = (active.stdout or "").strip() or f"unknown ({_said(active)})"
        lines = [f"installed: {self.unit_path}",
                 f"enabled: {(enabled.stdout or '').strip() or _said(enabled)}",
                 f"active: {state}"]
        linger = self.run(["loginctl", "show-user", self.user, "--property=Linger"])
        if linger.returncode == 0:
            lines.append(f"starts with the PC: {'yes' if 'Linger=yes' in linger.stdout else 'no'}"
                         " (loginctl enable-linger)")
        return (0 if state == "active" else 1), lines

    def remove(self, logs: Path | None = None) -> tuple[int, list[str]]:
        if not self.unit_path.is_file():
            return 0, [f"not installed (no {self.unit_path})"]
        stop = self.run(["systemctl", "--user", "disable", "--now", UNIT_NAME])
        self.unit_path.unlink()
        self.run(["systemctl", "--user", "daemon-reload"])
        lines = [f"removed {self.unit_path}"]
        if stop.returncode != 0:
            lines.append(f"systemctl could not stop it ({_said(stop)}); stop any running "
                         "'sentinel watch' by hand")
        return 0, lines


class ScheduledTask:
    """A Task Scheduler task registered with ``schtasks /Create /XML``."""

    def __init__(self, run: Runner = run_quietly, user: str | None = None) -> None:
        self.run = run
        domain = os.environ.get("USERDOMAIN", "")
        name = os.environ.get("USERNAME") or getpass.getuser()
        self.user = user or (f"{domain}\\{name}" if domain else name)

    def preview(self, spec: ServiceSpec) -> str:
        return task_xml(spec, self.user)

    def install(self, spec: ServiceSpec) -> tuple[int, list[str]]:
        with tempfile.TemporaryDirectory() as tmp:
            xml = Path(tmp) / "spheroid-sentinel-task.xml"
            xml.write_text(task_xml(spec, self.user), encoding="utf-16")  # with a BOM
            create = self.run(["schtasks", "/Create", "/TN", TASK_NAME, "/XML", str(xml), "/F"])
        if create.returncode != 0:
            return 1, [f"schtasks could not register the task: {_said(create)}"]
        started = self.run(["schtasks", "/Run", "/TN", TASK_NAME])
        return 0, [f"registered task '{TASK_NAME}' (at logon of {self.user}, restarted on "
                   "failure)", "started it" if started.returncode == 0
                   else f"not started now ({_said(started)}); it starts at the next logon"]

    def status(self) -> tuple[int, list[str]]:
        query = self.run(["schtasks", "/Query", "/TN", TASK_NAME, "/FO", "CSV", "/NH"])
        if query.returncode != 0:
            return 1, [f"not installed (no task '{TASK_NAME}')"]
        rows = [r for r in csv.reader(io.StringIO(query.stdout)) if len(r) >= 3]
        state = rows[0][2] if rows else "unknown"
        return (0 if state == "Running" else 1), [f"installed: task '{TASK_NAME}'",
                                                  f"state: {state}"]

    def remove(self, logs: Path | None = None) -> tuple[int, list[str]]:
        if self.run(["schtasks", "/Query", "/TN", TASK_NAME]).returncode != 0:
            return 0, [f"not installed (no task '{TASK_NAME}')"]
        self.run(["schtasks", "/End", "/TN", TASK_NAME])  # ends the supervisor only
        pid_file = (logs / "service.pid") if logs is not None else None
        if pid_file is not None and pid_file.is_file():
            pid = pid_file.read_text(encoding="ascii").strip()
            self.run(["taskkill", "/PID", pid, "/T", "/F"])
        delete = self.run(["schtasks", "/Delete", "/TN", TASK_NAME, "/F"])
        if delete.returncode != 0:
            return 1, [f"schtasks could not delete the task: {_said(delete)}"]
        return 0, [f"removed task '{TASK_NAME}'"]


def controller_for(platform: str = sys.platform) -> SystemdUserService | ScheduledTask:
    """The service manager of this platform; :class:`ServiceError` where there is none."""
    if platform.startswith("linux"):
        return SystemdUserService()
    if platform == "win32":
        return ScheduledTask()
    raise ServiceError(f"no service support for {platform}: run 'sentinel watch --config "
                       "sentinel.toml --headless' from a login item instead")


def heartbeat_line(config: Path, now: datetime | None = None) -> str:
    """How old the running sentinel's heartbeat (``<store>.heartbeat.json``) is."""
    try:
        store = store_of(read_settings(config))
    except ServiceError as exc:
        return f"heartbeat: unknown ({exc})"
    path = store.with_name(store.name + ".heartbeat.json")
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
        written = datetime.fromisoformat(beat["written_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"heartbeat: none at {path} (the sentinel has not run against this store)"
    age = ((now or datetime.now(UTC)) - written).total_seconds()
    return f"heartbeat: {age:.0f} s ago ({beat.get('state', '?')}, pid {beat.get('pid', '?')})"


# --- the Windows supervisor ---------------------------------------------------------------


def _console_log(logs: Path, limit: int = 5 * 2**20) -> io.TextIOWrapper:
    """The sentinel's stderr (tracebacks) in ``logs/service-console.log``, rotated once."""
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / "service-console.log"
    if path.exists() and path.stat().st_size > limit:
        os.replace(path, path.with_suffix(".log.1"))
    return path.open("a", encoding="utf-8")


def supervise(cmd: list[str], logs: Path, *, restart_s: float = RESTART_S,
              max_restarts: int | None = None, sleep: Callable[[float], None] = time.sleep,
              cwd: Path | None = None) -> int:
    """Run ``cmd`` until it exits 0; after a non-zero exit wait ``restart_s`` and rerun it.

    The child's pid is kept in ``logs/service.pid`` while it runs. Returns the last exit
    status (0, or the failing one once ``max_restarts`` is reached).
    """
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    restarts = 0
    while True:
        with _console_log(logs) as console:
            console.write(f"{datetime.now(UTC).isoformat()} starting: {cmd}\n")
            console.flush()
            child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=console,
                                     cwd=cwd, creationflags=flags)
            (logs / "service.pid").write_text(str(child.pid), encoding="ascii")
            code = child.wait()
            (logs / "service.pid").unlink(missing_ok=True)
            console.write(f"{datetime.now(UTC).isoformat()} exited with status {code}\n")
        if code == 0 or (max_restarts is not None and restarts >= max_restarts):
            return code
        restarts += 1
        sleep(restart_s)
