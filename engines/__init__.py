"""Models as deployable engines: manifest, pre/post-processing, runtimes, morphometry.

``engines`` imports neither ``edge_app`` nor ``trainer``.
"""
