"""The hall database: migrations, atomic writes, the event log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edge.errors import DiskFull, StorageError
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


def test_a_full_disk_in_a_savepoint_is_reported_as_a_full_disk(tmp_path: Path) -> None:
    # SQLite undoes the whole transaction when a step of many inserts runs out of room (SQLITE_FULL,
    # here by max_page_count): there is no savepoint left to roll back to; the failure keeps its cause
    db = Database(tmp_path / "hall.db")
    db.execute("CREATE TABLE big (b BLOB)")
    pages = int(db.one("PRAGMA page_count")[0])  # type: ignore[index]
    db.execute(f"PRAGMA max_page_count = {pages + 8}")
    db.begin()
    db.execute("INSERT INTO big VALUES (x'00')")
    with pytest.raises(dbmod.UndoFailed) as caught, db.savepoint():
        db.conn.executemany("INSERT INTO big VALUES (randomblob(1000))", [()] * 500)
    assert isinstance(caught.value.cause, sqlite3.OperationalError)
    err = dbmod.storage_error(caught.value.cause, "history.stage")
    assert isinstance(err, DiskFull) and err.code == "disk_full"
    assert str(err).startswith("the hall's disk is full: history.stage was not saved")
    assert not db.conn.in_transaction  # nothing of it kept, the earlier row included
    assert db.one("SELECT COUNT(*) FROM big")[0] == 0  # type: ignore[index]
    db.close()
