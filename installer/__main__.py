"""``python3 -m installer demo|test|doctor``: set up this checkout and run it."""

from __future__ import annotations

import argparse
import sys

from installer.bootstrap import (
    DEMO_EXTRAS,
    TEST_EXTRAS,
    ensure_environment,
    has_nvidia_gpu,
    run_in_venv,
    venv_python,
    wanted_extras,
)

HEADLESS_ENV = {"QT_QPA_PLATFORM": "offscreen", "PYMM_SIGNALS_BACKEND": "psygnal"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m installer", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="set up, then run a simulated plate through the app")
    demo.add_argument("--headless", action="store_true", help="no dashboard window")
    test = sub.add_parser("test", help="set up with dev tools, then run the test suite")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")
    sub.add_parser("doctor", help="report what this PC has (Python, GPU, venv)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "doctor":
        sys.stdout.write(
            f"python {sys.version.split()[0]}\n"
            f"nvidia gpu: {'yes' if has_nvidia_gpu() else 'no'}\n"
            f"venv: {'present' if venv_python().exists() else 'absent'}\n"
        )
        return 0
    if args.command == "test":
        python = ensure_environment(wanted_extras(TEST_EXTRAS))
        return run_in_venv(python, ["-m", "pytest", *args.pytest_args], env=HEADLESS_ENV)
    python = ensure_environment(wanted_extras(DEMO_EXTRAS))
    demo_args = ["-m", "edge_app", "demo"] + (["--headless"] if args.headless else [])
    return run_in_venv(python, demo_args, env=HEADLESS_ENV if args.headless else None)


if __name__ == "__main__":
    sys.exit(main())
