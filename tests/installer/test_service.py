"""``python3 -m installer service``: settings file, systemd unit, Task Scheduler task, the
install/status/remove steps (service managers faked at the command line) and the supervisor."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import installer.__main__ as cli
import installer.service_cli as service_cli
from installer import service
from installer.service_files import (
    TASK_NAME,
    UNIT_NAME,
    ServiceSpec,
    settings_template,
    systemd_unit,
    task_xml,
)

ROOT = Path(cli.__file__).resolve().parents[1]
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


class FakeCommands:
    """Stands in for systemctl / loginctl / schtasks: records each command line."""

    def __init__(self, fail: tuple[str, ...] = (), stdout: str = "") -> None:
        self.calls: list[list[str]] = []
        self.fail, self.stdout = fail, stdout
        self.files: dict[str, bytes] = {}

    def __call__(self, cmd: list[str]) -> subprocess.CompletedProcess:
        self.calls.append(cmd)
        if "/XML" in cmd:  # keep the task file schtasks would read
            path = cmd[cmd.index("/XML") + 1]
            self.files[path] = Path(path).read_bytes()
        line = " ".join(cmd)
        if any(word in line for word in self.fail):
            return subprocess.CompletedProcess(cmd, 1, "", "Failed to connect to bus")
        return subprocess.CompletedProcess(cmd, 0, self.stdout, "")


def _spec(tmp_path: Path, name: str = "sentinel 100%.toml") -> ServiceSpec:
    config = tmp_path / "my settings" / name
    config.parent.mkdir(parents=True, exist_ok=True)
    return ServiceSpec(ROOT, Path(sys.executable), config)


# --- settings file ------------------------------------------------------------------------


def test_settings_template_round_trips_odd_paths_and_loads_in_the_app(tmp_path):
    from edge_app.settings import load_settings

    folder = tmp_path / 'plate "7" \\ 100%'
    text = settings_template(folder, tmp_path / "run.sqlite", tmp_path / "plate.csv",
                             polling=True)
    assert text.count("\n#") >= 8  # it explains itself
    data = tomllib.loads(text)
    assert data["source"] == {"folder": str(folder), "polling": True}
    assert data["plate"]["protocol"] == str(tmp_path / "plate.csv")
    assert data["store"]["path"] == str(tmp_path / "run.sqlite")
    windows = tomllib.loads(settings_template(Path("C:\\Data\\plate 7"), Path("D:\\s.sqlite")))
    assert windows["source"]["folder"] == "C:\\Data\\plate 7" and windows["plate"] == {}
    config = tmp_path / "sentinel.toml"
    config.write_text(text, encoding="utf-8")
    settings = load_settings(config)  # the app's loader accepts every key
    assert settings.source.folder == folder and settings.source.polling
    assert settings.store.path == tmp_path / "run.sqlite"


# --- Linux -------------------------------------------------------------------------------


def test_systemd_unit_restarts_on_failure_and_runs_the_venv_watch(tmp_path):
    spec = _spec(tmp_path)
    unit = systemd_unit(spec)
    lines = unit.splitlines()
    assert "Restart=on-failure" in lines and "KillSignal=SIGINT" in lines
    assert f"WorkingDirectory={ROOT}" in lines
    assert "WantedBy=default.target" in lines
    exec_start = next(line for line in lines if line.startswith("ExecStart="))
    config = str(spec.config).replace("%", "%%")
    assert exec_start.endswith(f'-m edge_app watch --config "{config}" --headless')
    assert exec_start.startswith(f"ExecStart={sys.executable}") or \
        exec_start.startswith(f'ExecStart="{sys.executable}')


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (apt-get install systemd)")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    spec = _spec(tmp_path)
    unit = tmp_path / UNIT_NAME
    unit.write_text(systemd_unit(spec), encoding="utf-8")
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    out = subprocess.run(["systemd-analyze", "--user", "verify", str(unit)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # verify only warns (exit 0) on unknown keys or bad values: no line may name the unit.
    assert UNIT_NAME not in out.stderr, out.stderr
    broken = tmp_path / "broken" / UNIT_NAME
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace("Restart=on-failure", "Restart=onfail"))
    bad = subprocess.run(["systemd-analyze", "--user", "verify", str(broken)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert "restart" in bad.stderr.lower()  # the check can fail


def test_systemd_install_status_remove(tmp_path):
    commands = FakeCommands(stdout="active\n")
    manager = service.SystemdUserService(unit_dir=tmp_path / "units", run=commands, user="lab")
    code, lines = manager.install(_spec(tmp_path))
    assert code == 0, lines
    assert (tmp_path / "units" / UNIT_NAME).read_text() == systemd_unit(_spec(tmp_path))
    assert ["systemctl", "--user", "enable", "--now", UNIT_NAME] in commands.calls
    assert ["loginctl", "enable-linger", "lab"] in commands.calls
    code, lines = manager.status()
    assert code == 0 and "active: active" in lines
    code, lines = manager.remove()
    assert code == 0 and not (tmp_path / "units" / UNIT_NAME).exists()
    assert ["systemctl", "--user", "disable", "--now", UNIT_NAME] in commands.calls
    assert manager.status()[0] == 1 and "not installed" in manager.status()[1][0]


def test_systemd_without_a_user_manager_says_what_to_run(tmp_path):
    commands = FakeCommands(fail=("systemctl",))
    manager = service.SystemdUserService(unit_dir=tmp_path, run=commands, user="lab")
    code, lines = manager.install(_spec(tmp_path))
    assert code == 1 and (tmp_path / UNIT_NAME).is_file()
    assert "Failed to connect to bus" in lines[1]
    assert "systemctl --user enable --now" in lines[2]


# --- Windows -----------------------------------------------------------------------------


def test_task_xml_starts_at_logon_and_supervises(tmp_path):
    spec = ServiceSpec(Path("C:\\Lab\\spheroid sentinel"),
                       Path("C:\\Lab\\spheroid sentinel\\.venv\\Scripts\\python.exe"),
                       Path("D:\\plate 7\\sentinel.toml"))
    root = ET.fromstring(task_xml(spec, "LAB\\scope").split("\n", 1)[1])
    assert root.find("t:Triggers/t:LogonTrigger/t:UserId", NS).text == "LAB\\scope"
    restart = root.find("t:Settings/t:RestartOnFailure", NS)
    assert restart.find("t:Interval", NS).text == "PT1M"
    assert 1 <= int(restart.find("t:Count", NS).text) <= 255  # xs:unsignedByte
    assert root.find("t:Settings/t:ExecutionTimeLimit", NS).text == "PT0S"  # no time limit
    assert root.find("t:Settings/t:DisallowStartIfOnBatteries", NS).text == "false"
    action = root.find("t:Actions/t:Exec", NS)
    assert action.find("t:Command", NS).text == \
        "C:\\Lab\\spheroid sentinel\\.venv\\Scripts\\pythonw.exe"
    assert action.find("t:Arguments", NS).text == \
        '-m installer service run --config "D:\\plate 7\\sentinel.toml"'
    assert action.find("t:WorkingDirectory", NS).text == "C:\\Lab\\spheroid sentinel"


def test_scheduled_task_install_status_remove(tmp_path):
    commands = FakeCommands(stdout=f'"\\{TASK_NAME}","N/A","Running"\r\n')
    task = service.ScheduledTask(run=commands, user="LAB\\scope")
    code, lines = task.install(_spec(tmp_path))
    assert code == 0, lines
    (xml_bytes,) = commands.files.values()
    assert xml_bytes[:2] == b"\xff\xfe"  # UTF-16 with a BOM, as schtasks /XML reads it
    assert ET.fromstring(xml_bytes.decode("utf-16").split("\n", 1)[1]) is not None
    assert commands.calls[0][:4] == ["schtasks", "/Create", "/TN", TASK_NAME]
    assert task.status() == (0, [f"installed: task '{TASK_NAME}'", "state: Running"])
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "service.pid").write_text("4242")
    assert task.remove(logs=logs)[0] == 0
    assert ["taskkill", "/PID", "4242", "/T", "/F"] in commands.calls
    assert ["schtasks", "/Delete", "/TN", TASK_NAME, "/F"] in commands.calls


# --- the whole command -------------------------------------------------------------------


@pytest.fixture
def fake_manager(tmp_path, monkeypatch):
    commands = FakeCommands(stdout="active\n")
    manager = service.SystemdUserService(unit_dir=tmp_path / "units", run=commands, user="lab")
    monkeypatch.setattr(service, "controller_for", lambda: manager)
    monkeypatch.setattr(service_cli, "ensure_environment", lambda extras: Path(sys.executable))
    return manager


def test_install_writes_settings_checks_them_and_installs(tmp_path, fake_manager, capsys):
    folder = tmp_path / "acquisition"
    folder.mkdir()
    config = tmp_path / "sentinel.toml"
    argv = ["service", "install", "--folder", str(folder), "--db", str(tmp_path / "r.sqlite"),
            "--config", str(config)]
    assert cli.main(argv) == 0, capsys.readouterr()
    assert tomllib.loads(config.read_text())["source"]["folder"] == str(folder)
    unit = fake_manager.unit_path.read_text()
    assert f"--config {config} --headless" in unit
    assert cli.main(argv) == 2  # exists: not overwritten silently
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["service", "status", "--config", str(config)]) == 0
    assert "heartbeat: none" in capsys.readouterr().out


def test_install_refuses_settings_the_app_would_refuse(tmp_path, fake_manager, capsys):
    config = tmp_path / "sentinel.toml"
    folder = tmp_path / "acq"
    folder.mkdir()
    config.write_text(settings_template(folder, tmp_path / "r.sqlite").replace(
        "polling = false", "poling = false"), encoding="utf-8")
    assert cli.main(["service", "install", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "source.poling" in err and "Traceback" not in err
    assert not fake_manager.unit_path.exists()
    assert cli.main(["service", "install", "--config", str(tmp_path / "none.toml")]) == 2
    assert "give --folder" in capsys.readouterr().err


def test_service_status_reads_the_heartbeat_age(tmp_path):
    config = tmp_path / "sentinel.toml"
    db = tmp_path / "run.sqlite"
    config.write_text(settings_template(tmp_path, db), encoding="utf-8")
    now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    beat = db.with_name(db.name + ".heartbeat.json")
    written = (now - timedelta(seconds=4)).isoformat()
    beat.write_text(json.dumps({"written_at": written, "state": "running", "pid": 7}))
    assert service.heartbeat_line(config, now) == "heartbeat: 4 s ago (running, pid 7)"


# --- the Windows supervisor (runs anywhere) ----------------------------------------------


def test_supervisor_restarts_until_a_clean_exit(tmp_path):
    counter = tmp_path / "runs"
    script = ("import pathlib, sys; p = pathlib.Path(sys.argv[1]); "
              "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); "
              "sys.stderr.write(f'run {n}\\n'); sys.exit(0 if n >= 3 else 1)")
    pauses: list[float] = []
    logs = tmp_path / "logs"
    code = service.supervise([sys.executable, "-c", script, str(counter)], logs,
                             restart_s=15, sleep=pauses.append)
    assert code == 0 and counter.read_text() == "3" and pauses == [15, 15]
    console = (logs / "service-console.log").read_text()
    assert console.count("starting") == 3 and "run 2" in console
    assert "exited with status 1" in console and not (logs / "service.pid").exists()
    counter.unlink()
    code = service.supervise([sys.executable, "-c", script, str(counter)], logs,
                             max_restarts=0, sleep=pauses.append)
    assert code == 1
