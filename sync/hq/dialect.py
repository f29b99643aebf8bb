"""The one place where HQ's store differs between SQLite and PostgreSQL.

The store writes its SQL once, in the subset both databases share (``BIGINT``,
``DOUBLE PRECISION``, ``ON CONFLICT … DO NOTHING | DO UPDATE``, ``excluded.``),
and asks its :class:`Dialect` for the rest: the driver's parameter mark (``?``
for sqlite3, ``%s`` for psycopg) put in as statements are composed, how a write
transaction begins, row locks, the migration lock, bulk inserts (``executemany``
on SQLite, ``COPY`` on PostgreSQL), and which driver errors mean "duplicate",
"disk full" or "connection lost" (translated here, at the boundary, into
:mod:`sync.errors`).

    >>> d = SQLITE
    >>> f"SELECT cursor FROM lanes WHERE hall = {d.mark} AND lane = {d.mark}{d.lock_rows}"
    'SELECT cursor FROM lanes WHERE hall = ? AND lane = ?'
    >>> d.marks(3)
    '?, ?, ?'
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sync.errors import StoreFull, StoreUnavailable, SyncError

MIGRATION_LOCK = 72_467_311  # pg_advisory_xact_lock key of HQ's migrations


class Duplicate(SyncError):
    """A row with this primary key is already held (raised inside a transaction that is then rolled back)."""


class Dialect:
    name = ""
    mark = ""
    begin = "BEGIN"
    lock_rows = ""

    def marks(self, n: int) -> str:
        return ", ".join([self.mark] * n)

    def connect(self, url: str) -> Any:
        raise NotImplementedError

    def broken(self, conn: Any) -> bool:
        """Whether ``conn`` can no longer be used (and a new one must be opened)."""
        return False

    def lost(self, conn: Any, exc: Exception) -> bool:
        """Whether ``exc`` may mean the session was lost (even before ``conn`` knows it is broken)."""
        return self.broken(conn)

    def lock_migrations(self, cur: Any) -> None:
        """Serialize migrations between processes (inside the migration's transaction)."""

    def insert_many(self, cur: Any, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``; a primary key already held raises :class:`Duplicate`."""
        cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({self.marks(len(cols))})", rows)

    def translate(self, exc: Exception) -> Exception:
        """A driver error as one of ours (or ``exc`` itself when it is not the driver's)."""
        return exc

    def before_sealing(self, cur: Any) -> None:
        """Before secrets are sealed in place (inside that transaction): overwrite what is replaced."""

    def forget_cleartext(self, conn: Any) -> None:
        """After secrets were sealed in place: leave no old copy of them in the database's files."""


class SQLiteDialect(Dialect):
    name = "sqlite"
    mark = "?"
    begin = "BEGIN IMMEDIATE"

    def connect(self, url: str) -> sqlite3.Connection:
        path = sqlite_path(url)
        if path != ":memory:":
            _private_file(Path(path))
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open HQ store {path}: {exc}") from exc
        return conn

    def before_sealing(self, cur: Any) -> None:
        cur.execute("PRAGMA secure_delete = ON")  # a replaced row's bytes are zeroed, not left in the page

    def forget_cleartext(self, conn: Any) -> None:
        conn.execute("PRAGMA secure_delete = OFF")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old frames of the log may hold the clear rows

    def translate(self, exc: Exception) -> Exception:
        if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
            return Duplicate(str(exc))
        if isinstance(exc, sqlite3.Error):
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
                return StoreFull(f"HQ's store is full (disk or quota): {exc}")
            return StoreUnavailable(f"HQ's store failed: {exc}")
        return exc


class PostgresDialect(Dialect):
    name = "postgresql"
    mark = "%s"
    lock_rows = " FOR UPDATE"

    def connect(self, url: str) -> Any:
        try:
            import psycopg

            return psycopg.connect(url, autocommit=True, connect_timeout=10)
        except Exception as exc:  # psycopg's errors and a missing libpq alike
            raise StoreUnavailable(f"cannot open HQ store {redact(url)}: {exc}") from exc

    def broken(self, conn: Any) -> bool:
        return bool(conn.closed or conn.broken)

    def lost(self, conn: Any, exc: Exception) -> bool:
        import psycopg

        return self.broken(conn) or isinstance(exc, psycopg.OperationalError)

    def lock_migrations(self, cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))

    def forget_cleartext(self, conn: Any) -> None:
        conn.execute("VACUUM FULL halls")  # rewrites the table without the old row versions

    def insert_many(self, cur: Any, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def translate(self, exc: Exception) -> Exception:
        import psycopg
        from psycopg import errors

        if isinstance(exc, errors.UniqueViolation):
            return Duplicate(str(exc))
        if isinstance(exc, errors.DiskFull):
            return StoreFull(f"HQ's store is full: {exc}")
        if isinstance(exc, psycopg.Error):
            return StoreUnavailable(f"HQ's store failed: {exc}")
        return exc


SQLITE = SQLiteDialect()
POSTGRES = PostgresDialect()


def dialect_for(url: str) -> Dialect:
    return POSTGRES if url.startswith(("postgresql://", "postgres://")) else SQLITE


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/path``, ``sqlite://rel/path`` or a plain path (``:memory:`` too) as a path."""
    if url.startswith("sqlite:///"):
        return "/" + url.removeprefix("sqlite:///")
    if url.startswith("sqlite://"):
        return url.removeprefix("sqlite://")
    return url


def _private_file(path: Path) -> None:
    """Make the database file (and its WAL and shared-memory files) readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)  # an empty file is an empty SQLite database
        return
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreUnavailable(f"cannot create HQ store {path}: {exc.strerror}") from exc
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(p.stat().st_mode)
            if mode & 0o077:
                os.chmod(p, mode & 0o700)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreUnavailable(f"HQ store {p} is readable by others and cannot be made private: {exc}") from exc


def redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
