"""Immutable domain values passed between the stages."""
