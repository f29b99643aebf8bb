"""The vision service's own SQLite files (the face audit, the gallery): private, migrated, opened one way.

:func:`open_private` makes the file mode 0600 when it creates it, sets its pragmas and applies its
pending migrations in one ``BEGIN IMMEDIATE`` transaction (one process migrates; another waits, then
finds nothing pending). A full disk is :class:`~vision.errors.NoRoom`, which callers may wait out;
any other failure is the caller's own error class, naming the file. Callers that catch their own class
also catch their full disk when they pass a ``full`` class derived from both::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from sqlite_utils.migrations import Migrations
    >>> steps = Migrations("example")
    >>> @steps()
    ... def m001(db): db.execute("CREATE TABLE t (x)")
    >>> path = Path(tempfile.mkdtemp()) / "example.db"
    >>> conn = open_private(path, steps, what="the example", error=VisionError)
    >>> oct(path.stat().st_mode & 0o777), conn.execute("SELECT COUNT(*) FROM t").fetchone()[0]
    ('0o600', 0)
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from edge.storage.db import no_room
from vision.errors import NoRoom, VisionError


def open_private(
    path: Path,
    migrations: Migrations,
    *,
    what: str,
    error: type[VisionError],
    full: type[NoRoom] = NoRoom,
    pragmas: Sequence[str] = (),
) -> sqlite3.Connection:
    """A connection (autocommit) to ``path``, its schema current; ``what`` names it in errors, ``full`` is
    raised when the disk has no room, ``error`` for anything else."""
    conn: sqlite3.Connection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        if fresh:
            os.chmod(path, 0o600)
        for pragma in pragmas:
            conn.execute(f"PRAGMA {pragma}")
        migrate(conn, migrations)
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        roomless = no_room(exc) if isinstance(exc, sqlite3.Error) else exc.errno in (errno.ENOSPC, errno.EDQUOT)
        if roomless:
            raise full(f"{path}: the disk is full: {what} cannot be opened until there is room") from exc
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise error(f"{path}: cannot open {what}: {reason}") from exc
    return conn


def migrate(conn: sqlite3.Connection, migrations: Migrations) -> list[str]:
    """Bring the file's schema up to date; return the names of the migrations applied."""
    db = Database(conn, execute_plugins=False)
    pending = [m.name for m in migrations.pending(db)]
    if pending:
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations.apply(db)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:  # SQLite may have undone it itself (as when a statement runs out of room)
                conn.execute("ROLLBACK")
            raise
    return pending
