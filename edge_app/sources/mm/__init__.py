"""Live Micro-Manager acquisitions of a plate plan: pymmcore-plus, pycromanager, hand-off."""
