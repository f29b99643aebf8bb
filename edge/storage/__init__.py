"""The hall database: an append-only event log and projections, in one SQLite file."""

from edge.storage.db import Database

__all__ = ["Database"]
