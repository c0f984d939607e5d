"""The PySide6 dashboard. Qt is imported only by this package's widget modules, lazily:
``snapshot``, ``detail``, ``notify`` and ``live`` are Qt-free and importable anywhere."""
