"""``python -m edge_app`` is the ``sentinel`` CLI."""

from edge_app.cli import main

main()
