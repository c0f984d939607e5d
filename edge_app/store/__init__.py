"""SQLite store (WAL, sqlite-utils): plates, wells, frames, results, alerts, reviews, runs."""

from edge_app.store.database import Store, StoreError
from edge_app.store.writer import StoreWriter

__all__ = ["Store", "StoreError", "StoreWriter"]
