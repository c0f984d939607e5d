"""The files behind ``python3 -m installer service``: the settings file, the systemd user
unit (Linux) and the Task Scheduler task (Windows). Pure text generation, standard library only.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from xml.sax.saxutils import escape

UNIT_NAME = "spheroid-sentinel.service"
TASK_NAME = "Spheroid Sentinel"
SETTINGS_NAME = "sentinel.toml"
RESTART_S = 15  # systemd RestartSec and the Windows supervisor's pause between restarts
DESCRIPTION = "Spheroid Sentinel: watch the microscope's folder, analyse every frame, alert"


class ServiceError(Exception):
    """A service set-up problem the user must fix; shown as one line, exit status 2."""


@dataclass(frozen=True)
class ServiceSpec:
    """What the service runs: the checkout, its venv python and the settings file."""

    root: Path
    python: Path
    config: Path

    def watch_args(self) -> list[str]:
        """Arguments after the interpreter: ``-m edge_app watch --config FILE --headless``."""
        return ["-m", "edge_app", "watch", "--config", str(self.config), "--headless"]


# --- settings file -----------------------------------------------------------------------


def _toml_string(value: str | Path) -> str:
    """A TOML basic string (JSON's escaping is valid TOML: backslashes, quotes, controls)."""
    return json.dumps(str(value), ensure_ascii=False)


def settings_template(folder: Path, store: Path, plate: Path | None = None,
                      polling: bool = False) -> str:
    """A commented ``sentinel.toml`` naming the watched folder, the plate map and the store."""
    plate_line = (f"protocol = {_toml_string(plate)}" if plate is not None
                  else '# protocol = "plate.csv"')
    return f"""\
# Spheroid Sentinel settings, read by the service:
#     sentinel watch --config <this file> --headless
# Written by 'python3 -m installer service install'. Paths are absolute. Any setting of the
# README's "Settings" section can be added here, one [section] per component. After an
# edit, restart the service (Linux: systemctl --user restart {UNIT_NAME};
# Windows: python3 -m installer service install) and check the PC with
#     sentinel doctor --config <this file>

[source]
# The folder the microscope saves to (it must exist when the service starts).
folder = {_toml_string(folder)}
# true: poll instead of operating-system file events. Needed on a network share, where
# events for files written by another PC never arrive ('sentinel doctor' tells which).
polling = {"true" if polling else "false"}

[plate]
# The plate map (CSV or .xlsx), one row per well; without one there are no protocol alerts.
{plate_line}

[store]
# The SQLite store. Log files (logs/) and the service heartbeat
# (<store>.heartbeat.json, shown by 'sentinel status') are written beside it.
path = {_toml_string(store)}

[log]
# Level of the rotating log files in logs/ beside the store: DEBUG, INFO, WARNING, ERROR.
level = "INFO"
"""


def read_settings(path: Path) -> dict:
    """The parsed settings file; :class:`ServiceError` when it is missing or not TOML."""
    try:
        with Path(path).open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ServiceError(f"settings file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ServiceError(f"settings file {path} is not valid TOML: {exc}") from None


def store_of(settings: dict) -> Path:
    """The store path a settings file names (the app's default when it names none)."""
    return Path(settings.get("store", {}).get("path", "sentinel.sqlite"))


# --- Linux: systemd user unit ------------------------------------------------------------


def _systemd_escape(text: str) -> str:
    """Escape ``%`` specifiers and ``$`` expansion in a unit-file value."""
    return text.replace("%", "%%").replace("$", "$$")


def _systemd_arg(arg: str) -> str:
    """One ExecStart word, double-quoted (C-style escapes) when it needs quoting."""
    text = _systemd_escape(arg)
    if text and not any(c in text for c in ' \t"\'\\;'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_unit(spec: ServiceSpec) -> str:
    """A systemd user unit: start at boot (with lingering) or login, restart on failure.

    ``KillSignal=SIGINT`` makes ``systemctl stop`` a Ctrl-C, so the run stops cleanly
    (queued frames finished, store flushed). ``StartLimitIntervalSec=0``: never give up,
    e.g. while a network share is not mounted yet after boot.
    """
    exec_start = " ".join(_systemd_arg(a) for a in [str(spec.python), *spec.watch_args()])
    return f"""\
[Unit]
Description={DESCRIPTION}
StartLimitIntervalSec=0

[Service]
Type=simple
WorkingDirectory={_systemd_escape(str(spec.root))}
ExecStart={exec_start}
Restart=on-failure
RestartSec={RESTART_S}
KillSignal=SIGINT
TimeoutStopSec=60
Environment=PYTHONUNBUFFERED=1

[Install]
WantedBy=default.target
"""


# --- Windows: Task Scheduler -------------------------------------------------------------


def windows_pythonw(python: Path) -> PureWindowsPath:
    """``pythonw.exe`` beside the venv's ``python.exe``: runs without a console window."""
    return PureWindowsPath(str(python)).with_name("pythonw.exe")


def task_xml(spec: ServiceSpec, user: str) -> str:
    """Task Scheduler XML for ``schtasks /Create /XML``: at ``user``'s logon, no time limit.

    Task Scheduler restarts a task only when it fails to start, not when the program exits
    with an error, so the action runs the installer's supervisor (``service run``), which
    restarts the sentinel whenever it exits non-zero. RestartOnFailure covers the rest.
    """
    args = ["-m", "installer", "service", "run", "--config", str(spec.config)]
    user_xml = escape(user)
    return f"""\
<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{escape(DESCRIPTION)}</Description>
    <URI>\\{escape(TASK_NAME)}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>{user_xml}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{user_xml}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>false</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>255</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(str(windows_pythonw(spec.python)))}</Command>
      <Arguments>{escape(subprocess.list2cmdline(args))}</Arguments>
      <WorkingDirectory>{escape(str(spec.root))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""
