"""The panel's accounts, sessions, counter bindings and audit trail, kept in ``$HALL_HOME/panel.db``.

The core is the only writer of ``hall.db``, so staff accounts live here.
Passwords are hashed with argon2id (argon2-cffi); there is no default account:
the first manager comes from the one-time setup token (printed when the panel
starts with no accounts) or from ``hall users add NAME --role manager``.
Session tokens and the setup token are stored only as SHA-256 digests.
Checking a password, and the delays that stop guessing, are
:mod:`edge.panel.signin`'s::

    >>> store = Store(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=8192))
    >>> store.add_user("wang", "manager", "correct horse 1")["role"]
    'manager'
    >>> store.open_session("wang", now=0.0).role
    'manager'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher

from edge.errors import Conflict, HallError, InvalidRequest, NotFound
from edge.panel.store import StoreError, bound_detail, bound_name, open_db, store_error

Role = Literal["staff", "manager", "technician"]
ROLES: tuple[str, ...] = ("staff", "manager", "technician")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # characters; argon2 takes any length, a body limit takes the rest
MAX_DISPLAY = 32


class PanelError(HallError):
    """Root of the panel's own errors."""


class LoginFailed(PanelError):
    code = "unauthorized"


class LockedOut(PanelError):
    code = "locked"


class Forbidden(PanelError):
    """Signed in, but this is not yours to do (another's counter, another role's page)."""

    code = "forbidden"


@dataclass(frozen=True)
class Session:
    token: str
    name: str
    display: str
    role: str
    csrf: str
    created_at: float


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """panel.db behind a lock: one connection shared by the panel's threads, failures as :class:`StoreError`."""

    def __init__(
        self,
        path: str,
        *,
        idle_s: float = 30 * 60,
        max_age_s: float = 12 * 3600,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.db = open_db(path)
        self.conn = self.db.conn
        self.lock = threading.RLock()
        self.idle_s, self.max_age_s = idle_s, max_age_s
        self.hasher = hasher or PasswordHasher()  # argon2id, 64 MiB, 3 passes

    @contextmanager
    def _guarded(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            try:
                yield self.conn
            except sqlite3.Error as exc:
                raise store_error(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``: read-then-write steps that other threads and processes cannot split."""
        with self._guarded() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def row(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self._guarded() as conn:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

    def rows(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        with self._guarded() as conn:
            return conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self._guarded() as conn:
            return conn.execute(sql, params)

    # -- users ------------------------------------------------------------
    def has_users(self) -> bool:
        return self.row("SELECT 1 FROM users LIMIT 1") is not None

    def has_manager(self) -> bool:
        return self.row("SELECT 1 FROM users WHERE role = 'manager' AND disabled = 0 LIMIT 1") is not None

    def _check_password(self, name: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidRequest(f"password must have at least {MIN_PASSWORD} characters")
        if len(password) > MAX_PASSWORD:
            raise InvalidRequest(f"password must have at most {MAX_PASSWORD} characters")
        if password.strip().lower() == name.lower():
            raise InvalidRequest("password must not be the user name")

    def add_user(self, name: str, role: str, password: str, *, display: str = "", now: float = 0.0) -> dict[str, Any]:
        if not NAME_RE.match(name):
            raise InvalidRequest("user name must be 2-32 letters, digits, Chinese characters, '.', '_' or '-'")
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r} is not one of {', '.join(ROLES)}")
        if len(display) > MAX_DISPLAY:
            raise InvalidRequest(f"display name must have at most {MAX_DISPLAY} characters")
        self._check_password(name, password)
        try:
            self.execute(
                "INSERT INTO users (name, display, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, display or name, role, self.hasher.hash(password), now),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise Conflict(f"user {name} already exists") from None
            raise
        return self.user(name)

    def user(self, name: str) -> dict[str, Any]:
        row = self.row("SELECT * FROM users WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no user {name}")
        return {"name": row["name"], "display": row["display"], "role": row["role"], "disabled": bool(row["disabled"])}

    def credentials(self, name: str) -> sqlite3.Row | None:
        """The row a password is checked against: None for an unknown or disabled account."""
        return self.row("SELECT name, display, role, hash FROM users WHERE name = ? AND disabled = 0", (name,))

    def rehash(self, name: str, password: str) -> None:
        self.execute("UPDATE users SET hash = ? WHERE name = ?", (self.hasher.hash(password), name))

    def users(self) -> list[dict[str, Any]]:
        names = [r[0] for r in self.rows("SELECT name FROM users ORDER BY name")]
        return [self.user(n) for n in names]

    def set_password(self, name: str, password: str) -> None:
        self.user(name)
        self._check_password(name, password)
        self.execute("UPDATE users SET hash = ? WHERE name = ?", (self.hasher.hash(password), name))
        self.execute("DELETE FROM sessions WHERE name = ?", (name,))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.user(name)
        self.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            self.execute("DELETE FROM sessions WHERE name = ?", (name,))

    # -- sessions -----------------------------------------------------------
    def open_session(self, name: str, *, now: float) -> Session:
        """A new session for an account whose password was just checked."""
        row = self.row("SELECT display, role FROM users WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no user {name}")
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.execute(
            "INSERT INTO sessions (digest, name, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)",
            (digest(token), name, csrf, now, now),
        )
        return Session(token, name, row["display"], row["role"], csrf, now)

    def session(self, token: str | None, *, now: float) -> Session | None:
        """The live session for a cookie token, or None (unknown, idle too long, too old, user disabled).

        Reading needs no write: when the disk is full a live session keeps working.
        """
        if not token or len(token) > 128:
            return None
        row = self.row(
            "SELECT s.*, u.display, u.role, u.disabled FROM sessions s JOIN users u ON u.name = s.name"
            " WHERE s.digest = ?",
            (digest(token),),
        )
        if row is None:
            return None
        if row["disabled"] or now - row["seen_at"] > self.idle_s or now - row["created_at"] > self.max_age_s:
            try:
                self.execute("DELETE FROM sessions WHERE digest = ?", (row["digest"],))
            except StoreError:
                pass  # refused all the same; deleted when the disk has room again
            return None
        if now - row["seen_at"] > 15:
            try:
                self.execute("UPDATE sessions SET seen_at = ? WHERE digest = ?", (now, row["digest"]))
            except StoreError:
                pass  # a full disk must not sign staff out
        return Session(token, row["name"], row["display"], row["role"], row["csrf"], row["created_at"])

    def logout(self, token: str) -> None:
        self.execute("DELETE FROM sessions WHERE digest = ?", (digest(token),))

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf, presented or "")

    # -- counter bindings -----------------------------------------------------
    def binding(self, counter: str) -> dict[str, Any] | None:
        row = self.row("SELECT * FROM bindings WHERE counter = ?", (counter,))
        return dict(row) if row is not None else None

    def bindings_of(self, name: str) -> list[str]:
        return [r[0] for r in self.rows("SELECT counter FROM bindings WHERE name = ? ORDER BY counter", (name,))]

    def bind(self, counter: str, name: str, display: str, *, now: float) -> None:
        self.execute(
            "INSERT INTO bindings (counter, name, display, since) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(counter) DO UPDATE SET name = excluded.name, display = excluded.display, since = excluded.since",
            (counter, name, display, now),
        )

    def unbind(self, counter: str) -> None:
        self.execute("DELETE FROM bindings WHERE counter = ?", (counter,))

    # -- first manager ----------------------------------------------------
    def new_setup_token(self) -> str:
        token = secrets.token_urlsafe(12)
        self.execute(
            "INSERT INTO meta (key, value) VALUES ('setup', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps({"digest": digest(token), "failures": 0}),),
        )
        return token

    def setup(self, token: str, name: str, password: str, *, now: float, max_failures: int = 5) -> dict[str, Any]:
        """Create the first manager with the one-time setup token; too many wrong tokens spend it."""
        if self.has_users():
            raise Conflict("the panel already has accounts; setup is closed")
        with self.transaction() as conn:  # count the guess before comparing: parallel guesses all count
            row = conn.execute("SELECT value FROM meta WHERE key = 'setup'").fetchone()
            if row is None:
                raise LoginFailed("no setup token is active; restart the panel to print a new one")
            state = json.loads(row[0])
            right = hmac.compare_digest(state["digest"], digest(token[:64]))
            if not right:
                state["failures"] += 1
                if state["failures"] >= max_failures:
                    conn.execute("DELETE FROM meta WHERE key = 'setup'")
                else:
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'setup'", (json.dumps(state),))
        if not right:
            if state["failures"] >= max_failures:
                raise LockedOut("too many wrong setup tokens; restart the panel to print a new one")
            raise LoginFailed("setup token is wrong")
        user = self.add_user(name, "manager", password, now=now)
        self.execute("DELETE FROM meta WHERE key = 'setup'")
        return user

    # -- audit --------------------------------------------------------------
    def audit(self, *, name: str, role: str, action: str, detail: dict[str, Any], ok: bool, ip: str, now: float) -> int:
        """Append a row, cut to a size the bus takes (a long name or detail is truncated and says so)."""
        cur = self.execute(
            "INSERT INTO audit (at, name, role, action, detail, ok, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, bound_name(name), role[:16], action[:64], bound_detail(detail), int(ok), ip[:64]),
        )
        return int(cur.lastrowid or 0)

    def audit_rows(self, *, limit: int = 200, unpublished: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit" + (" WHERE published = 0 ORDER BY id" if unpublished else " ORDER BY id DESC")
        return [
            {
                "id": r["id"],
                "at": r["at"],
                "name": bound_name(r["name"]),
                "role": r["role"],
                "action": r["action"],
                "detail": json.loads(bound_detail(json.loads(r["detail"]))),
                "ok": bool(r["ok"]),
                "ip": r["ip"],
            }
            for r in self.rows(sql + " LIMIT ?", (limit,))
        ]

    def mark_published(self, audit_id: int, *, refused: bool = False) -> None:
        """1: in the hall log; 2: the core refused it for good (reported in the panel's log, not retried)."""
        self.execute("UPDATE audit SET published = ? WHERE id = ?", (2 if refused else 1, audit_id))

    def close(self) -> None:
        with self.lock:
            self.conn.close()
