"""``panel.db``: the panel's own SQLite file, its schema owned by numbered sqlite-utils migrations.

The core alone writes ``hall.db``; the panel keeps accounts, sessions, sign-in
throttles, counter bindings and its audit trail here. Every schema change is a
migration of the ``panel`` set, recorded in ``_sqlite_migrations``; a file made
before migrations existed upgrades in place (``m001`` is that schema, verbatim)::

    >>> db = open_db(":memory:")
    >>> [m.name for m in MIGRATIONS.applied(db)][:2]
    ['m001_accounts', 'm002_throttle']
    >>> pending(db)
    []

Failures of SQLite are translated here into :class:`StoreError`, whose message
is one sentence a person at the counter can act on (a full disk says so).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from edge.errors import HallError

MIGRATIONS = Migrations("panel")
AUDIT_NAME_MAX = 64  # characters of the name an audit row keeps
AUDIT_DETAIL_MAX = 2048  # bytes of JSON an audit row's detail keeps (well under every bus limit)


class StoreError(HallError):
    """panel.db cannot be read or written (a full disk, a read-only home, a broken file)."""

    code = "storage"


class StoreFull(StoreError):
    """panel.db cannot be opened or written for want of disk space: it passes once there is room."""


def store_error(exc: sqlite3.Error) -> StoreError:
    """The panel's error for ``exc``: :class:`StoreFull` when the disk has no room (also for a ``-shm`` file that
    could not grow, which is how SQLite says it at opening time).

    >>> type(store_error(sqlite3.OperationalError("database or disk is full"))).__name__
    'StoreFull'
    """
    name = getattr(exc, "sqlite_errorname", "")
    full = name in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE") or "disk is full" in str(exc)
    return (StoreFull if full else StoreError)(describe(exc, full=full))


def describe(exc: sqlite3.Error, *, full: bool = False) -> str:
    """One sentence for a failure of panel.db (``full``: known to be for want of disk space).

    >>> describe(sqlite3.OperationalError("database or disk is full"))
    '盒子的磁盘已满，面板无法保存登录和操作记录；请联系技术员清理空间 (the box disk is full)'
    """
    text = str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if full or code == sqlite3.SQLITE_FULL or "disk is full" in text:
        return "盒子的磁盘已满，面板无法保存登录和操作记录；请联系技术员清理空间 (the box disk is full)"
    if code == sqlite3.SQLITE_READONLY or "readonly" in text:
        return "面板的数据文件只读，无法保存登录和操作记录；请联系技术员 (panel.db is read-only)"
    if code == sqlite3.SQLITE_BUSY or "locked" in text:
        return "面板的数据文件正忙，请稍后重试 (panel.db is busy)"
    return f"面板的数据文件出错，请联系技术员 (panel.db: {text})"


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), shared by the panel's threads."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        conn.row_factory = sqlite3.Row
        if path != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise store_error(exc) from exc
    return conn


def open_db(path: str) -> Database:
    """Open panel.db and bring its schema up to date (foreign keys are off while tables are rebuilt)."""
    conn = connect(path)
    db = Database(conn, execute_plugins=False)
    try:
        if pending(db):
            conn.execute("PRAGMA foreign_keys = OFF")  # a rebuilt table must not cascade deletes
            conn.execute("BEGIN IMMEDIATE")  # one process migrates; another waits, then finds nothing pending
            try:
                MIGRATIONS.apply(db)  # each migration in a savepoint of this transaction
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(exc) from exc
    return db


def pending(db: Database) -> list[str]:
    return [m.name for m in MIGRATIONS.pending(db)]


@MIGRATIONS()
def m001_accounts(db: Database) -> None:
    """The schema the panel had before its migrations were numbered (kept verbatim)."""
    for sql in (
        """CREATE TABLE IF NOT EXISTS users (
            name TEXT PRIMARY KEY, display TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL,
            created_at REAL NOT NULL, failures INTEGER NOT NULL DEFAULT 0,
            locked_until REAL NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE IF NOT EXISTS sessions (
            digest TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
            csrf TEXT NOT NULL, created_at REAL NOT NULL, seen_at REAL NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
            action TEXT NOT NULL, detail TEXT NOT NULL, ok INTEGER NOT NULL, ip TEXT NOT NULL,
            published INTEGER NOT NULL DEFAULT 0)""",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ):
        db.execute(sql)


@MIGRATIONS()
def m002_throttle(db: Database) -> None:
    """Sign-in delays per name and address replace the per-account lock."""
    db.table("throttle").create(
        {"key": str, "failures": int, "not_before": float, "last_at": float},
        pk="key",
        not_null={"failures", "not_before", "last_at"},
    )
    db.table("users").transform(drop={"failures", "locked_until"})


@MIGRATIONS()
def m003_counter_bindings(db: Database) -> None:
    """Which account signed in at which counter."""
    db.table("bindings").create(
        {"counter": str, "name": str, "display": str, "since": float},
        pk="counter",
        not_null={"name", "display", "since"},
        foreign_keys=[("name", "users", "name")],
    )


@MIGRATIONS()
def m004_bounded_audit(db: Database) -> None:
    """Audit rows too large to ship are cut down to a size the bus takes (the row stays, marked truncated)."""
    rows = db.query(
        "SELECT id, name, detail FROM audit WHERE length(CAST(name AS BLOB)) > ? OR length(CAST(detail AS BLOB)) > ?",
        [AUDIT_NAME_MAX * 4, AUDIT_DETAIL_MAX],
    )
    for row in list(rows):
        db.table("audit").update(
            row["id"], {"name": bound_name(row["name"]), "detail": bound_detail_text(row["detail"])}
        )


def bound_name(name: str) -> str:
    """A name as an audit row keeps it.

    >>> bound_name("x" * 100)[-2:], len(bound_name("x" * 100))
    ('x…', 64)
    """
    return name if len(name) <= AUDIT_NAME_MAX else name[: AUDIT_NAME_MAX - 1] + "…"


def bound_detail(detail: dict[str, Any]) -> str:
    """An audit detail as JSON of at most ``AUDIT_DETAIL_MAX`` bytes; longer ones say they were cut.

    >>> bound_detail({"user": "li"})
    '{"user": "li"}'
    >>> json.loads(bound_detail({"note": "长" * 5000}))["truncated"]
    True
    """
    return bound_detail_text(json.dumps(detail, ensure_ascii=False))


def bound_detail_text(text: str) -> str:
    size = len(text.encode())
    if size <= AUDIT_DETAIL_MAX:
        return text
    return json.dumps({"truncated": True, "bytes": size, "start": text[:200]}, ensure_ascii=False)
