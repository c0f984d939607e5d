"""Running unattended: the heartbeat a live run leaves beside its store, and the checks of
``sentinel doctor`` (what will run on this PC and what to fix). No Qt, no torch at import.
"""
