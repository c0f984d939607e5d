"""Load the fuzz profiles (see :mod:`tests.fuzz.profiles`) before the suites are collected."""

from tests.fuzz import profiles  # noqa: F401  (registers and loads the profile)
