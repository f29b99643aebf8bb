"""HQ's operators: accounts with roles, sign-in under the panel's rules for guessing, sessions.

Roles: ``viewer`` (the fleet and each hall), ``operator`` (also answers repair
reports), ``admin`` (everything). There is no default account: the first comes
from ``hall hq operator add NAME --role admin`` on the HQ machine. Passwords are
argon2id hashes (argon2-cffi's defaults, as the staff panel's); session tokens
are kept as SHA-256 digests only.

Guessing is slowed the way the staff panel slows it (:mod:`edge.panel.signin`'s
:class:`~edge.panel.signin.Rules` and :func:`~edge.panel.signin.delay_after`):
each name at each address has ``free_failures`` free wrong tries, then every try
waits twice as long as the last, up to 15 minutes; each address has
``address_free_failures`` over all names; every try is counted before its
password is checked, in one transaction, so tries sent at once all count; an
unknown name costs an argon2 check and answers like a wrong password; at most
``slots`` checks run at once. Nobody is locked out for good:
``hall hq operator unlock NAME`` clears the delays.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge.errors import Conflict, InvalidRequest, NotFound
from edge.panel.signin import MAX_NAME, Outcome, Rules, delay_after, keys

ROLES = ("viewer", "operator", "admin")
NAME_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{2,32}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
IDLE_S = 30 * 60.0
MAX_SESSION_S = 12 * 3600.0
WRONG = "wrong name or password"


@dataclass(frozen=True)
class Session:
    name: str
    role: str
    csrf: str

    def may(self, role: str) -> bool:
        """Whether this operator's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Operators:
    def __init__(self, store: Any, *, rules: Rules | None = None, hasher: PasswordHasher | None = None) -> None:
        self.store = store
        self.rules = rules or Rules()
        self.hasher = hasher or PasswordHasher()
        self.slots = threading.BoundedSemaphore(self.rules.slots)
        self._dummy = self.hasher.hash(secrets.token_hex(16))

    # -- accounts -------------------------------------------------------------
    def add(self, name: str, role: str, password: str) -> None:
        if not NAME_RE.match(name):
            raise InvalidRequest(f"operator name {name!r} must be 2-32 letters, digits, _ . - or CJK characters")
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r} is not one of {', '.join(ROLES)}")
        _check_password(password)
        m = self.store.d.mark
        hashed = self.hasher.hash(password)
        with self.store._tx() as cur:
            cur.execute(f"SELECT 1 FROM operators WHERE name = {m}", (name,))
            if cur.fetchone():
                raise Conflict(f"operator {name} exists")
            cur.execute(
                f"INSERT INTO operators (name, role, hash, created_at) VALUES ({m}, {m}, {m}, {m})",
                (name, role, hashed, time.time()),
            )

    def passwd(self, name: str, password: str) -> None:
        _check_password(password)
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"UPDATE operators SET hash = {m} WHERE name = {m}", (self.hasher.hash(password), name))
            if cur.rowcount != 1:
                raise NotFound(f"no operator {name}")
            cur.execute(f"DELETE FROM operator_sessions WHERE name = {m}", (name,))

    def remove(self, name: str) -> None:
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"DELETE FROM operator_sessions WHERE name = {m}", (name,))
            cur.execute(f"DELETE FROM operators WHERE name = {m}", (name,))
            if cur.rowcount != 1:
                raise NotFound(f"no operator {name}")

    def list(self) -> list[dict[str, Any]]:
        with self.store._tx() as cur:
            cur.execute("SELECT name, role FROM operators ORDER BY name")
            return [{"name": r[0], "role": r[1]} for r in cur.fetchall()]

    def unlock(self, name: str) -> int:
        """Clear the delays on ``name`` at every address (and those addresses' own counts)."""
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"SELECT key FROM signin_throttle WHERE key LIKE {m}", (f"name:{name}@%",))
            found = [r[0] for r in cur.fetchall() if r[0].startswith(f"name:{name}@")]
            for key in found:
                cur.execute(f"DELETE FROM signin_throttle WHERE key = {m} OR key = {m}",
                            (key, "addr:" + key.rsplit("@", 1)[1]))  # fmt: skip
        return len(found)

    # -- signing in -----------------------------------------------------------
    def sign_in(self, name: str, password: str, address: str, *, now: float | None = None) -> Outcome:
        """Check a password under the rules above; never raises for a wrong guess."""
        if not name or len(name) > MAX_NAME or len(password) > MAX_PASSWORD:
            return Outcome(False, "invalid", f"a name has at most {MAX_NAME} characters, a password {MAX_PASSWORD}")
        at = time.time() if now is None else now
        pair = keys(name, address)
        wait = self._count(pair, at, checking=False)
        if wait > 0:
            return _throttled(wait)
        if not self.slots.acquire(timeout=self.rules.wait_s):
            return Outcome(False, "busy", "HQ is signing others in: try again in a moment", retry_after=2)
        try:
            wait = self._count(pair, at, checking=True)
            if wait > 0:
                return _throttled(wait)
            m = self.store.d.mark
            with self.store._tx() as cur:
                cur.execute(f"SELECT name, role, hash FROM operators WHERE name = {m}", (name,))
                row = cur.fetchone()
            right = self._check(row[2] if row else self._dummy, password) and row is not None
        finally:
            self.slots.release()
        if not right or row is None:
            return Outcome(False, "wrong", WRONG)
        self._forgive(pair)
        return Outcome(True, "ok", "", user={"name": row[0], "role": row[1]})

    def _check(self, hashed: str, password: str) -> bool:
        try:
            return self.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _count(self, pair: tuple[str, str], now: float, *, checking: bool) -> float:
        """As :meth:`edge.panel.signin.SignIn._count`: one transaction, the try counted before it is checked."""
        frees = (self.rules.free_failures, self.rules.address_free_failures)
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(
                f"SELECT key, failures, not_before, last_at FROM signin_throttle WHERE key IN ({m}, {m})"
                f"{self.store.d.lock_rows}",
                pair,
            )
            rows = {r[0]: r for r in cur.fetchall() if now - float(r[3]) < self.rules.forget_s}
            wait = max([float(r[2]) - now for r in rows.values()] + [0.0])
            if wait <= 0 and not checking:
                return 0.0
            longest = 0.0
            for key, free in zip(pair, frees, strict=True):
                failures = (int(rows[key][1]) if key in rows else 0) + 1
                delay = delay_after(failures, free=free, max_delay=self.rules.max_delay_s)
                not_before = now + delay if delay else 0.0
                if wait > 0 and key in rows:
                    not_before = max(not_before, float(rows[key][2]))
                longest = max(longest, not_before - now)
                cur.execute(
                    f"INSERT INTO signin_throttle (key, failures, not_before, last_at) VALUES ({m}, {m}, {m}, {m}) "
                    "ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, "
                    "not_before = excluded.not_before, last_at = excluded.last_at",
                    (key, failures, not_before, now),
                )
        return longest if wait > 0 else 0.0

    def _forgive(self, pair: tuple[str, str]) -> None:
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"DELETE FROM signin_throttle WHERE key IN ({m}, {m})", pair)

    # -- sessions -------------------------------------------------------------
    def open_session(self, name: str, *, now: float | None = None) -> tuple[str, Session]:
        """A new session for a signed-in operator: its token (for the cookie) and its record."""
        at = time.time() if now is None else now
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"DELETE FROM operator_sessions WHERE last_at < {m} OR created_at < {m}",
                        (at - IDLE_S, at - MAX_SESSION_S))  # fmt: skip
            cur.execute(f"SELECT role FROM operators WHERE name = {m}", (name,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"no operator {name}")
            cur.execute(
                f"INSERT INTO operator_sessions (digest, name, csrf, created_at, last_at) VALUES ({m}, {m}, {m}, {m}, {m})",
                (_digest(token), name, csrf, at, at),
            )
        return token, Session(name, row[0], csrf)

    def session(self, token: str | None, *, now: float | None = None) -> Session | None:
        """The live session of a cookie's token (its idle time restarts), or None."""
        if not token or len(token) > 100:
            return None
        at = time.time() if now is None else now
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(
                f"SELECT s.name, o.role, s.csrf, s.created_at, s.last_at FROM operator_sessions s "
                f"JOIN operators o ON o.name = s.name WHERE s.digest = {m}",
                (_digest(token),),
            )
            row = cur.fetchone()
            if row is None or at - float(row[4]) >= IDLE_S or at - float(row[3]) >= MAX_SESSION_S:
                return None
            cur.execute(f"UPDATE operator_sessions SET last_at = {m} WHERE digest = {m}", (at, _digest(token)))
        return Session(row[0], row[1], row[2])

    def close_session(self, token: str) -> None:
        m = self.store.d.mark
        with self.store._tx() as cur:
            cur.execute(f"DELETE FROM operator_sessions WHERE digest = {m}", (_digest(token),))


def _throttled(wait: float) -> Outcome:
    seconds = max(1, int(wait + 0.999))
    return Outcome(False, "throttled", f"too many tries: try again in {seconds} s", retry_after=seconds)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidRequest(f"password must have at most {MAX_PASSWORD} characters")
