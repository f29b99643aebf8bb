"""SQLite in WAL mode, fsynced at every commit, schema owned by migrations.

Only the core writes. A transaction is opened with :meth:`Database.begin` and
closed by :meth:`commit` (which fsyncs the WAL: ``synchronous=FULL``) or
:meth:`rollback`; the core batches many requests into one transaction (group
commit) and answers none of them before the commit returns::

    >>> db = Database(":memory:")
    >>> db.begin(); seq = db.append_event("ticket.issued", {"number": "A001"}, source="core")["seq"]
    >>> db.commit(); seq
    1
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge import envelope
from edge.errors import DiskFull, StorageError
from edge.storage.migrations import MIGRATIONS


class UndoFailed(StorageError):
    """A failed step could not be rolled back to its savepoint: the whole transaction must go.

    ``cause`` is the step's own failure: when SQLite undid the whole transaction itself (as it does when
    a statement runs out of room), that failure, a full disk, is what the request must be told.
    """

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


def storage_error(exc: sqlite3.Error, what: str) -> StorageError:
    """The hall's error for a database failure while saving ``what``; a full disk says so.

    >>> str(storage_error(sqlite3.OperationalError("database or disk is full"), "ticket.issue"))
    "the hall's disk is full: ticket.issue was not saved (reads still work; free space under HALL_HOME)"
    """
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL" or "disk is full" in str(exc):
        return DiskFull(f"the hall's disk is full: {what} was not saved (reads still work; free space under HALL_HOME)")
    return StorageError(f"the hall database could not save {what}: {exc}")


def no_room(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed for want of disk space: a full disk, or a ``-shm`` file that could not grow."""
    name = getattr(exc, "sqlite_errorname", "")
    return name in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE") or "disk is full" in str(exc)


class Database:
    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = str(path)
        try:
            if readonly:
                uri = f"file:{Path(self.path).absolute()}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA busy_timeout = 5000")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self.conn.execute("PRAGMA foreign_keys = ON")
                self.migrate()
        except sqlite3.Error as exc:
            if no_room(exc):
                raise DiskFull(
                    f"the hall's disk is full: {self.path} cannot be opened (SQLite needs room beside it for its "
                    "shared-memory and write-ahead files); free space under HALL_HOME"
                ) from exc
            raise StorageError(f"cannot open hall database {self.path}: {exc}") from exc

    # -- schema -----------------------------------------------------------
    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the numbered migrations above the file's version, each in its own transaction."""
        numbers = [n for n, _ in MIGRATIONS]
        if numbers != list(range(1, len(numbers) + 1)):
            raise StorageError(f"migrations must be numbered 1, 2, 3… in order; found {numbers}")
        current = self.version
        known = numbers[-1]
        if current > known:
            raise StorageError(f"{self.path} has schema version {current}, newer than this software knows ({known})")
        for number, sql in MIGRATIONS:
            if number <= current:
                continue
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";\n"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self.conn.execute("ROLLBACK")
                raise StorageError(f"migration {number} failed: {exc}") from exc

    # -- transactions -------------------------------------------------------
    def begin(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextmanager
    def atomic(self) -> Iterator[Database]:
        """One transaction around a multi-step write (commit on success)."""
        self.begin()
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    @contextmanager
    def savepoint(self, name: str = "req") -> Iterator[None]:
        """Undo just this block on error, inside a larger transaction."""
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as failure:
            try:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            except sqlite3.Error as exc:
                raise UndoFailed(f"a failed step could not be undone: {exc}", failure) from exc
            raise
        self.conn.execute(f"RELEASE {name}")

    # -- helpers ----------------------------------------------------------
    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return list(self.conn.execute(sql, params).fetchall())

    def append_event(
        self, topic: str, data: dict[str, Any], *, source: str, id: str | None = None, ts: str | None = None
    ) -> envelope.Envelope:
        """Append one event to the log (inside the caller's transaction); return it with its seq."""
        env = envelope.make(topic, data, source=source, id=id)
        if ts:
            env["ts"] = ts
        cur = self.conn.execute(
            "INSERT INTO events (id, ts, source, topic, data) VALUES (?, ?, ?, ?, ?)",
            (env["id"], env["ts"], env["source"], topic, json.dumps(data, ensure_ascii=False)),
        )
        env["seq"] = cur.lastrowid
        return env

    def events_since(
        self, seq: int, limit: int = 1000, topic_prefix: str = "", *, max_bytes: int | None = None
    ) -> list[envelope.Envelope]:
        """Up to ``limit`` events after ``seq`` whose topic starts with ``topic_prefix``, in seq order.

        With ``max_bytes``, stop before the events' data pass that many bytes (one event at least).
        """
        pattern = topic_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self.read_events(
            "SELECT seq, id, ts, source, topic, data FROM events WHERE seq > ? AND topic LIKE ? ESCAPE '\\'"
            " ORDER BY seq LIMIT ?",
            (seq, pattern, limit),
            max_bytes=max_bytes,
        )

    def read_events(self, sql: str, params: Any, *, max_bytes: int | None = None) -> list[envelope.Envelope]:
        """Events selected by ``sql`` (columns seq, id, ts, source, topic, data), read lazily up to ``max_bytes``."""
        out: list[envelope.Envelope] = []
        total = 0
        for row in self.conn.execute(sql, params):
            total += len(row["data"].encode())
            if max_bytes is not None and out and total > max_bytes:
                break
            out.append(row_to_event(row))
        return out

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self.conn.close()


def row_to_event(row: sqlite3.Row) -> envelope.Envelope:
    return {
        "v": envelope.VERSION,
        "id": row["id"],
        "ts": row["ts"],
        "source": row["source"],
        "topic": row["topic"],
        "data": json.loads(row["data"]),
        "seq": row["seq"],
    }
