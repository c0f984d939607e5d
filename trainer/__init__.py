"""Trainer: datasets (SLiMIA layout, folders, synthetic atlas), models, training, export.

``trainer`` imports ``engines`` but never ``edge_app`` at module level (the CLI may load the
plate-map reader lazily inside a command).
"""
