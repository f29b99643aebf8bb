"""The panel's own store (``$HALL_HOME/panel.db``): accounts, sessions, the audit trail.

The core is the only writer of ``hall.db``, so staff accounts live here.
Passwords are hashed with argon2id (argon2-cffi); there is no default account:
the first manager comes from the one-time setup token (printed when the panel
starts with no accounts) or from ``hall users add NAME --role manager``.
Session tokens and the setup token are stored only as SHA-256 digests::

    >>> store = Store(":memory:", hasher=PasswordHasher(time_cost=1, memory_cost=8192))
    >>> store.add_user("wang", "manager", "correct horse 1")["role"]
    'manager'
    >>> store.login("wang", "wrong", now=0.0)
    Traceback (most recent call last):
    ...
    edge.panel.accounts.LoginFailed: 用户名或密码错误
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.errors import Conflict, HallError, InvalidRequest, NotFound

Role = Literal["staff", "manager", "technician"]
ROLES: tuple[str, ...] = ("staff", "manager", "technician")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")
MIN_PASSWORD = 8

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name         TEXT PRIMARY KEY,
    display      TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    created_at   REAL NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    disabled     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    digest     TEXT PRIMARY KEY,
    name       TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL NOT NULL,
    name      TEXT NOT NULL,
    role      TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    ok        INTEGER NOT NULL,
    ip        TEXT NOT NULL,
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PanelError(HallError):
    """Root of the panel's own errors."""


class LoginFailed(PanelError):
    code = "unauthorized"


class LockedOut(PanelError):
    code = "locked"


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
    def __init__(
        self,
        path: str,
        *,
        idle_s: float = 30 * 60,
        max_age_s: float = 12 * 3600,
        max_failures: int = 5,
        lockout_s: float = 15 * 60,
        hasher: PasswordHasher | None = None,
    ) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA busy_timeout = 5000")
        self.conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.executescript(SCHEMA)
        self.lock = threading.RLock()
        self.idle_s, self.max_age_s = idle_s, max_age_s
        self.max_failures, self.lockout_s = max_failures, lockout_s
        self.hasher = hasher or PasswordHasher()  # argon2id, 64 MiB, 3 passes
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    def _one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        with self.lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def _exec(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, params)

    # -- users ------------------------------------------------------------
    def has_users(self) -> bool:
        return self._one("SELECT 1 FROM users LIMIT 1") is not None

    def has_manager(self) -> bool:
        return self._one("SELECT 1 FROM users WHERE role = 'manager' AND disabled = 0 LIMIT 1") is not None

    def _check_password(self, name: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise InvalidRequest(f"password must have at least {MIN_PASSWORD} characters")
        if password.strip().lower() == name.lower():
            raise InvalidRequest("password must not be the user name")

    def add_user(self, name: str, role: str, password: str, *, display: str = "", now: float = 0.0) -> dict[str, Any]:
        if not NAME_RE.match(name):
            raise InvalidRequest("user name must be 2-32 letters, digits, Chinese characters, '.', '_' or '-'")
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r} is not one of {', '.join(ROLES)}")
        self._check_password(name, password)
        try:
            self._exec(
                "INSERT INTO users (name, display, role, hash, created_at) VALUES (?, ?, ?, ?, ?)",
                (name, (display or name)[:32], role, self.hasher.hash(password), now),
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"user {name} already exists") from None
        return self.user(name)

    def user(self, name: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM users WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no user {name}")
        return {
            "name": row["name"],
            "display": row["display"],
            "role": row["role"],
            "failures": row["failures"],
            "locked_until": row["locked_until"],
            "disabled": bool(row["disabled"]),
        }

    def users(self) -> list[dict[str, Any]]:
        with self.lock:
            names = [r[0] for r in self.conn.execute("SELECT name FROM users ORDER BY name")]
        return [self.user(n) for n in names]

    def set_password(self, name: str, password: str) -> None:
        self.user(name)
        self._check_password(name, password)
        self._exec(
            "UPDATE users SET hash = ?, failures = 0, locked_until = 0 WHERE name = ?",
            (self.hasher.hash(password), name),
        )
        self._exec("DELETE FROM sessions WHERE name = ?", (name,))

    def unlock(self, name: str) -> None:
        self.user(name)
        self._exec("UPDATE users SET failures = 0, locked_until = 0 WHERE name = ?", (name,))

    def set_disabled(self, name: str, disabled: bool) -> None:
        self.user(name)
        self._exec("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name))
        if disabled:
            self._exec("DELETE FROM sessions WHERE name = ?", (name,))

    # -- sign in ----------------------------------------------------------
    def login(self, name: str, password: str, *, now: float) -> Session:
        """Check a password and open a session; count failures and lock the account after too many."""
        row = self._one("SELECT * FROM users WHERE name = ?", (name,))
        if row is None or row["disabled"]:
            try:
                self.hasher.verify(self._dummy, password)  # same cost as a real check
            except VerificationError:
                pass
            raise LoginFailed("用户名或密码错误")
        if row["locked_until"] > now:
            minutes = int((row["locked_until"] - now) // 60) + 1
            raise LockedOut(f"账户已锁定，请 {minutes} 分钟后再试或联系值班经理解锁")
        try:
            self.hasher.verify(row["hash"], password)
        except (VerificationError, InvalidHashError):
            failures = row["failures"] + 1
            locked = now + self.lockout_s if failures >= self.max_failures else 0.0
            self._exec(
                "UPDATE users SET failures = ?, locked_until = ? WHERE name = ?",
                (0 if locked else failures, locked, name),
            )
            if locked:
                raise LockedOut(f"连续 {failures} 次密码错误，账户已锁定 {self.lockout_s / 60:.0f} 分钟") from None
            raise LoginFailed("用户名或密码错误") from None
        if self.hasher.check_needs_rehash(row["hash"]):
            self._exec("UPDATE users SET hash = ? WHERE name = ?", (self.hasher.hash(password), name))
        self._exec("UPDATE users SET failures = 0, locked_until = 0 WHERE name = ?", (name,))
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._exec(
            "INSERT INTO sessions (digest, name, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)",
            (digest(token), name, csrf, now, now),
        )
        return Session(token, name, row["display"], row["role"], csrf, now)

    def session(self, token: str | None, *, now: float) -> Session | None:
        """The live session for a cookie token, or None (unknown, idle too long, too old, user disabled)."""
        if not token:
            return None
        row = self._one(
            "SELECT s.*, u.display, u.role, u.disabled FROM sessions s JOIN users u ON u.name = s.name"
            " WHERE s.digest = ?",
            (digest(token),),
        )
        if row is None:
            return None
        if row["disabled"] or now - row["seen_at"] > self.idle_s or now - row["created_at"] > self.max_age_s:
            self._exec("DELETE FROM sessions WHERE digest = ?", (row["digest"],))
            return None
        if now - row["seen_at"] > 15:
            self._exec("UPDATE sessions SET seen_at = ? WHERE digest = ?", (now, row["digest"]))
        return Session(token, row["name"], row["display"], row["role"], row["csrf"], row["created_at"])

    def logout(self, token: str) -> None:
        self._exec("DELETE FROM sessions WHERE digest = ?", (digest(token),))

    @staticmethod
    def csrf_ok(session: Session, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(session.csrf, presented or "")

    # -- first manager ----------------------------------------------------
    def new_setup_token(self) -> str:
        token = secrets.token_urlsafe(12)
        self._exec(
            "INSERT INTO meta (key, value) VALUES ('setup', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps({"digest": digest(token), "failures": 0}),),
        )
        return token

    def setup(self, token: str, name: str, password: str, *, now: float) -> dict[str, Any]:
        """Create the first manager with the one-time setup token; the token is spent either way."""
        if self.has_users():
            raise Conflict("the panel already has accounts; setup is closed")
        row = self._one("SELECT value FROM meta WHERE key = 'setup'")
        if row is None:
            raise LoginFailed("no setup token is active; restart the panel to print a new one")
        state = json.loads(row[0])
        if not hmac.compare_digest(state["digest"], digest(token)):
            state["failures"] += 1
            if state["failures"] >= self.max_failures:
                self._exec("DELETE FROM meta WHERE key = 'setup'")
                raise LockedOut("too many wrong setup tokens; restart the panel to print a new one")
            self._exec("UPDATE meta SET value = ? WHERE key = 'setup'", (json.dumps(state),))
            raise LoginFailed("setup token is wrong")
        user = self.add_user(name, "manager", password, now=now)
        self._exec("DELETE FROM meta WHERE key = 'setup'")
        return user

    # -- audit --------------------------------------------------------------
    def audit(self, *, name: str, role: str, action: str, detail: dict[str, Any], ok: bool, ip: str, now: float) -> int:
        cur = self._exec(
            "INSERT INTO audit (at, name, role, action, detail, ok, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, name, role, action, json.dumps(detail, ensure_ascii=False), int(ok), ip),
        )
        return int(cur.lastrowid or 0)

    def audit_rows(self, *, limit: int = 200, unpublished: bool = False) -> list[dict[str, Any]]:
        sql = "SELECT * FROM audit" + (" WHERE published = 0 ORDER BY id" if unpublished else " ORDER BY id DESC")
        with self.lock:
            rows = self.conn.execute(sql + " LIMIT ?", (limit,)).fetchall()
        return [
            {
                "id": r["id"],
                "at": r["at"],
                "name": r["name"],
                "role": r["role"],
                "action": r["action"],
                "detail": json.loads(r["detail"]),
                "ok": bool(r["ok"]),
                "ip": r["ip"],
            }
            for r in rows
        ]

    def mark_published(self, audit_id: int) -> None:
        self._exec("UPDATE audit SET published = 1 WHERE id = ?", (audit_id,))

    def close(self) -> None:
        with self.lock:
            self.conn.close()
