"""Standard-library-only bootstrap for Spheroid Sentinel.

``python3 -m installer demo`` and ``python3 -m installer test`` create (or reuse) ``.venv``
inside the checkout, install the project with the extras this PC needs, then run the demo or
the test suite. Nothing here imports a third-party package, so it works on a fresh machine.
"""
