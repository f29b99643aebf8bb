"""Checking a password, for every door staff sign in at: the web panel, the technicians' serial console.

``SignIn.verify(name, password, address)`` returns an :class:`Outcome`; it
knows nothing of HTTP, so the console calls it with its own address (say
``"console:ttyS0"``). The rules:

- **Guessing is slowed, not locked.** Each name at each address may fail
  ``free_failures`` times; after that every further try must wait twice as
  long as the last (1 s, 2 s, 4 s … up to ``max_delay_s``). Each address, over
  all names, gets ``address_free_failures`` before the same doubling, so one
  machine cannot spray names. A stranger guessing at one address never delays
  the manager signing in at another, and nobody can lock an account.
- **Every try counts, atomically.** A try is counted as a failure (and its
  delay set) in one ``BEGIN IMMEDIATE`` transaction *before* the password is
  checked, and forgiven when it turns out right; a try made while it must wait
  is refused unchecked and counted too. Forty wrong tries sent at once count
  forty, and the next try from there waits the longest delay.
- **Argon2 is capped.** At most ``slots`` checks run at once (each takes 64 MiB
  and ~0.2 s); a try that finds no slot within ``wait_s`` is answered "busy",
  uncounted.
- **Unknown names cost the same.** An unknown or disabled name is checked
  against a dummy hash, counted and answered exactly like a wrong password.
- **The box's own console always gets a manager in**: ``hall users unlock NAME``
  clears every delay on that name (and on the addresses it was tried from),
  ``hall users passwd NAME`` sets a new password.

Delays double from the ``free`` failure on::

    >>> [delay_after(n, free=5, max_delay=900.0) for n in (0, 4, 5, 6, 7, 14, 15, 40)]
    [0.0, 0.0, 1.0, 2.0, 4.0, 512.0, 900.0, 900.0]
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from argon2.exceptions import InvalidHashError, VerificationError

from edge.panel.accounts import MAX_PASSWORD, Store

MAX_NAME = 64  # characters of a name worth checking; longer ones are refused before any work
Reason = Literal["ok", "wrong", "throttled", "busy", "invalid"]
WRONG = "用户名或密码错误"


@dataclass(frozen=True)
class Rules:
    free_failures: int = 5
    address_free_failures: int = 20
    max_delay_s: float = 15 * 60
    forget_s: float = 24 * 3600  # a name and address quiet this long start again from zero
    slots: int = 2
    wait_s: float = 10.0


@dataclass(frozen=True)
class Outcome:
    """What a sign-in attempt came to; ``message`` is the sentence to show the person."""

    ok: bool
    reason: Reason
    message: str
    user: dict[str, Any] | None = None
    retry_after: float = 0.0

    @staticmethod
    def throttled(wait: float) -> Outcome:
        seconds = max(1, math.ceil(wait))
        return Outcome(False, "throttled", f"尝试过于频繁，请 {seconds} 秒后再试 (too many tries)", retry_after=seconds)


@dataclass
class Stats:
    checks: int = 0  # argon2 verifications run
    throttled: int = 0
    busy: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


def delay_after(failures: int, *, free: int, max_delay: float) -> float:
    """Seconds the next try must wait after ``failures`` wrong tries in a row."""
    if failures < free:
        return 0.0
    return min(max_delay, 2.0 ** min(failures - free, 40))


def keys(name: str, address: str) -> tuple[str, str]:
    return f"name:{name}@{address}", f"addr:{address}"


class SignIn:
    def __init__(self, store: Store, rules: Rules | None = None) -> None:
        self.store = store
        self.rules = rules or Rules()
        self.slots = threading.BoundedSemaphore(self.rules.slots)
        self.stats = Stats()
        self._dummy = store.hasher.hash(secrets.token_hex(16))

    def verify(self, name: str, password: str, address: str, *, now: float | None = None) -> Outcome:
        """Check ``password`` for ``name`` signing in from ``address``; never raises for a wrong guess.

        A full disk raises :class:`edge.panel.store.StoreError` (nothing can be counted, so nothing is checked).
        """
        if not name or len(name) > MAX_NAME or len(password) > MAX_PASSWORD:
            return Outcome(False, "invalid", f"用户名最长 {MAX_NAME} 个字符，密码最长 {MAX_PASSWORD} 个字符")
        at = time.time() if now is None else now
        pair = keys(name, address)
        wait = self._count(pair, at, checking=False)
        if wait > 0:  # refused (and counted) before queueing for a slot
            self.stats.add("throttled")
            return Outcome.throttled(wait)
        if not self.slots.acquire(timeout=self.rules.wait_s):
            self.stats.add("busy")
            return Outcome(False, "busy", "正在为其他人登录，请稍后再试 (the panel is busy)", retry_after=2)
        try:
            wait = self._count(pair, at, checking=True)
            if wait > 0:
                self.stats.add("throttled")
                return Outcome.throttled(wait)
            row = self.store.credentials(name)
            self.stats.add("checks")
            right = self._check(row["hash"] if row is not None else self._dummy, password) and row is not None
        finally:
            self.slots.release()
        if not right or row is None:
            return Outcome(False, "wrong", WRONG)
        self.forgive(pair)
        if self.store.hasher.check_needs_rehash(row["hash"]):
            self.store.rehash(name, password)
        return Outcome(True, "ok", "", user={"name": row["name"], "display": row["display"], "role": row["role"]})

    def _check(self, hashed: str, password: str) -> bool:
        try:
            return self.store.hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    def _count(self, pair: tuple[str, str], now: float, *, checking: bool) -> float:
        """In one transaction: a try that must wait is counted and refused (its wait may grow); a try about
        to be checked (``checking``) is counted as failed in advance, and forgiven if right. Returns the wait."""
        frees = (self.rules.free_failures, self.rules.address_free_failures)
        with self.store.transaction() as conn:
            rows = {
                r["key"]: r
                for r in conn.execute("SELECT * FROM throttle WHERE key IN (?, ?)", pair)
                if now - r["last_at"] < self.rules.forget_s
            }
            wait = max([float(r["not_before"]) - now for r in rows.values()] + [0.0])
            if wait <= 0 and not checking:
                return 0.0
            longest = 0.0
            for key, free in zip(pair, frees, strict=True):
                failures = (rows[key]["failures"] if key in rows else 0) + 1
                delay = delay_after(failures, free=free, max_delay=self.rules.max_delay_s)
                not_before = now + delay if delay else 0.0  # no wait: none, even for a try stamped a moment earlier
                if wait > 0 and key in rows:
                    not_before = max(not_before, float(rows[key]["not_before"]))
                longest = max(longest, not_before - now)
                conn.execute(
                    "INSERT INTO throttle (key, failures, not_before, last_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET failures = excluded.failures,"
                    " not_before = excluded.not_before, last_at = excluded.last_at",
                    (key, failures, not_before, now),
                )
        return longest if wait > 0 else 0.0

    def forgive(self, pair: tuple[str, str]) -> None:
        """A right password clears its name's and its address's count."""
        self.store.execute("DELETE FROM throttle WHERE key IN (?, ?)", pair)

    # -- from the box's own console -------------------------------------------
    def unlock(self, name: str | None = None, *, address: str | None = None) -> int:
        """Clear the delays of a name (at every address it was tried from, those addresses' too) or of an
        address (every name there); how many counts were cleared."""
        if name is not None:
            pattern = f"name:{_like(name)}@%"
            with self.store.transaction() as conn:
                rows = conn.execute("SELECT key FROM throttle WHERE key LIKE ? ESCAPE '\\'", (pattern,)).fetchall()
                addresses = [f"addr:{r[0].rsplit('@', 1)[1]}" for r in rows]
                conn.execute("DELETE FROM throttle WHERE key LIKE ? ESCAPE '\\'", (pattern,))
                conn.executemany("DELETE FROM throttle WHERE key = ?", [(a,) for a in addresses])
            return len(rows)
        return self.store.execute(
            "DELETE FROM throttle WHERE key = ? OR key LIKE ? ESCAPE '\\'",
            (f"addr:{address}", f"name:%@{_like(address or '')}"),
        ).rowcount

    def delays(self, *, now: float | None = None) -> list[dict[str, Any]]:
        """Names and addresses that must wait now, longest first."""
        at = time.time() if now is None else now
        rows = self.store.rows("SELECT * FROM throttle WHERE not_before > ? ORDER BY not_before DESC", (at,))
        return [{"key": r["key"], "failures": r["failures"], "wait_s": math.ceil(r["not_before"] - at)} for r in rows]

    def prune(self, *, now: float | None = None) -> None:
        """Forget counts nobody added to for ``forget_s``."""
        at = time.time() if now is None else now
        self.store.execute("DELETE FROM throttle WHERE last_at < ?", (at - self.rules.forget_s,))


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
