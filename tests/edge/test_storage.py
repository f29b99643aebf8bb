"""The hall database: migrations, atomic writes, the event log."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import StorageError
from edge.storage import Database
from edge.storage import db as dbmod
from edge.storage.migrations import MIGRATIONS


def test_migrations_are_numbered_in_order_without_gaps(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert [n for n, _ in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    monkeypatch.setattr(dbmod, "MIGRATIONS", [*MIGRATIONS, (len(MIGRATIONS) + 2, "CREATE TABLE x (a)")])
    with pytest.raises(StorageError, match="numbered 1, 2, 3"):
        Database(tmp_path / "gap.db")


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hall.db"
    db = Database(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StorageError, match="newer than this software knows"):
        Database(path)


def test_atomic_rolls_back_state_and_event_together(tmp_path: Path) -> None:
    db = Database(tmp_path / "hall.db")
    with pytest.raises(RuntimeError), db.atomic():
        db.append_event("ticket.issued", {"n": 1}, source="t")
        db.set_meta("day", "2026-03-02")
        raise RuntimeError("power cut")
    assert db.events_since(0) == []
    assert db.get_meta("day") is None
    with db.atomic():
        db.append_event("ticket.issued", {"n": 2}, source="t")
    db.close()
    again = Database(tmp_path / "hall.db")
    assert [e["data"] for e in again.events_since(0)] == [{"n": 2}]
    assert again.one("PRAGMA journal_mode")[0] == "wal"
    assert again.one("PRAGMA synchronous")[0] == 2  # FULL: the WAL is fsynced at every commit
