"""Spheroid Sentinel: the streaming edge application.

Importing this package is cheap and works on any PC: no GPU, Qt display or Micro-Manager is
needed. Heavy modules are imported lazily by the components that use them.
"""

__version__ = "0.1.0"
