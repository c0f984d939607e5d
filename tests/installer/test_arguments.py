"""``python3 -m installer test|demo`` pass their arguments on verbatim (README's forms)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import installer.__main__ as cli

ROOT = Path(cli.__file__).resolve().parents[1]


@pytest.fixture
def launched(monkeypatch):
    """Record what the installer would run in the venv instead of installing anything."""
    calls: list[dict] = []
    monkeypatch.setattr(cli, "ensure_environment", lambda extras: Path("venv-python"))
    monkeypatch.setattr(cli, "wanted_extras", lambda base: base)

    def run_in_venv(python, args, env=None, cwd=None):
        calls.append({"python": python, "args": args, "env": env, "cwd": cwd})
        return 0

    monkeypatch.setattr(cli, "run_in_venv", run_in_venv)
    return calls


@pytest.mark.parametrize("argv", [
    ["test", "-k", "store"],
    ["test", "--", "-k", "store"],
])
def test_test_passes_a_leading_option_to_pytest(launched, argv):
    assert cli.main(argv) == 0
    assert launched[-1]["args"] == ["-m", "pytest", "-k", "store"]
    assert launched[-1]["env"]["QT_QPA_PLATFORM"] == "offscreen"


def test_test_passes_paths_options_and_inner_double_dash(launched):
    cli.main(["test", "tests/store", "-x", "-q", "-k", "not slow", "--", "-rs"])
    assert launched[-1]["args"] == ["-m", "pytest", "tests/store", "-x", "-q", "-k", "not slow",
                                    "--", "-rs"]


def test_demo_passes_screenshot_and_unknown_flags_from_the_callers_folder(launched, tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli.main(["demo", "--screenshot", "shot.png", "--headless", "--some-new-flag", "3"])
    call = launched[-1]
    assert call["args"] == ["-m", "edge_app", "demo", "--screenshot", "shot.png", "--headless",
                            "--some-new-flag", "3"]
    assert call["env"]["QT_QPA_PLATFORM"] == "offscreen"  # --headless: no window
    assert Path(call["cwd"]) == tmp_path  # shot.png lands where the user asked
    cli.main(["demo"])
    assert launched[-1]["args"] == ["-m", "edge_app", "demo"] and launched[-1]["env"] is None


def test_other_commands_still_reject_unknown_arguments(launched, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["doctor", "-k", "store"])
    assert exc.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert not launched


def test_minus_k_reaches_a_real_pytest(monkeypatch, capfd):
    """The documented ``test -k`` form selects tests in a real pytest run."""
    monkeypatch.setattr(cli, "ensure_environment", lambda extras: Path(sys.executable))
    rc = cli.main(["test", "tests/installer/test_bootstrap.py", "-k", "venv_python",
                   "--collect-only", "-q", "-p", "no:cacheprovider"])
    out = capfd.readouterr().out
    assert rc == 0, out
    assert "test_venv_python_path_per_platform" in out
    assert "test_gpu_extra_only_with_an_nvidia_gpu" not in out


def test_help_lists_the_service_command_without_third_party_packages():
    out = subprocess.run([sys.executable, "-S", "-m", "installer", "service", "--help"],
                         cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for action in ("install", "status", "remove", "run"):
        assert action in out.stdout
