"""``python3 -m installer demo|test|doctor|service``: set up this checkout and run it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from installer.bootstrap import (
    DEMO_EXTRAS,
    TEST_EXTRAS,
    ensure_environment,
    has_nvidia_gpu,
    run_in_venv,
    venv_python,
    wanted_extras,
)
from installer.service_cli import add_service_parser, run_service

HEADLESS_ENV = {"QT_QPA_PLATFORM": "offscreen", "PYMM_SIGNALS_BACKEND": "psygnal"}
#: Commands whose arguments all go on to another program (pytest, ``sentinel demo``).
PASS_THROUGH = ("demo", "test")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m installer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="set up, then run a simulated plate through the app")
    demo.add_argument("demo_args", nargs="*", metavar="ARG",
                      help="passed on to 'sentinel demo' (--headless: no window; "
                      "--screenshot FILE ...)")
    test = sub.add_parser("test", help="set up with dev tools, then run the test suite")
    test.add_argument("pytest_args", nargs="*", metavar="ARG",
                      help="passed on to pytest ('test -k store' or 'test -- -k store')")
    sub.add_parser("doctor", help="report what this PC has (Python, GPU, venv)")
    add_service_parser(sub)
    return parser


def pass_through(argv: list[str]) -> tuple[str, list[str]] | None:
    """``(command, args)`` when ``argv`` is a demo or test run; a leading ``--`` is dropped.

    argparse cannot pass a leading option such as ``-k`` through (``REMAINDER`` rejects it
    and ``parse_known_args`` treats ``--`` differently across Python versions), so these two
    commands take everything after their name verbatim.
    """
    if not argv or argv[0] not in PASS_THROUGH:
        return None
    rest = argv[1:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    return argv[0], rest


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    routed = pass_through(argv)
    if routed is None:
        args = _parser().parse_args(argv)
        if args.command == "service":
            return run_service(args)
        sys.stdout.write(
            f"python {sys.version.split()[0]}\n"
            f"nvidia gpu: {'yes' if has_nvidia_gpu() else 'no'}\n"
            f"venv: {'present' if venv_python().exists() else 'absent'}\n"
            "what will run and what to fix: "
            + (f"{venv_python()} -m edge_app doctor\n" if venv_python().exists()
               else "python3 -m installer demo, then sentinel doctor\n")
        )
        return 0
    command, rest = routed
    if command == "test":
        python = ensure_environment(wanted_extras(TEST_EXTRAS))
        return run_in_venv(python, ["-m", "pytest", *rest], env=HEADLESS_ENV)
    python = ensure_environment(wanted_extras(DEMO_EXTRAS))
    headless = "--headless" in rest
    # From the caller's folder, so relative paths (--screenshot shot.png) land where expected.
    return run_in_venv(python, ["-m", "edge_app", "demo", *rest],
                       env=HEADLESS_ENV if headless else None, cwd=Path.cwd())


if __name__ == "__main__":
    sys.exit(main())
