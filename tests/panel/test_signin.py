"""Sign-in rules without the web: atomic counting, delays per name and address, the argon2 cap, no enumeration."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from edge.panel.accounts import Store
from edge.panel.signin import Rules, SignIn

PASSWORD = "Lantern-Quay-2718"


class WatchedHasher(PasswordHasher):
    """A real (fast) argon2 hasher that records how many checks run at once, and can hold them."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.set()
        try:
            assert self.release.wait(10)
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def hasher() -> WatchedHasher:
    return WatchedHasher()


@pytest.fixture
def store(tmp_path: Path, hasher: WatchedHasher) -> Store:
    s = Store(str(tmp_path / "panel.db"), hasher=hasher)
    s.add_user("mgr-wang", "manager", PASSWORD)
    return s


def attempts(signin: SignIn, n: int, *, name: str = "mgr-wang", address: str = "10.0.0.66", now: float = 100.0) -> Any:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: signin.verify(name, "guess-password", address, now=now), range(n)))


def test_forty_parallel_wrong_passwords_all_count(store: Store, hasher: WatchedHasher) -> None:
    signin = SignIn(store, Rules(free_failures=5, slots=40))
    outcomes = attempts(signin, 40)
    reasons = [o.reason for o in outcomes]
    # each try is counted before its check: five are checked, the 5th sets a 1 s wait, the other 35 are refused
    assert reasons.count("wrong") == 5 and reasons.count("throttled") == 35
    assert signin.stats.checks == 5
    failures = store.row("SELECT failures FROM throttle WHERE key = 'name:mgr-wang@10.0.0.66'")
    assert failures is not None and failures[0] == 40  # every try counted, the refused ones too
    late = signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=100.5)
    assert (late.reason, late.retry_after) == ("throttled", 900)  # 2^35 s, capped at 15 minutes
    assert signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=100.5 + 900).ok


def test_delays_double_per_name_and_address_and_never_lock_the_manager_out(store: Store) -> None:
    signin = SignIn(store, Rules(free_failures=3, max_delay_s=60))
    waits = []
    now = 0.0
    for _ in range(10):
        assert signin.verify("mgr-wang", "guess-password", "10.0.0.66", now=now).reason == "wrong"
        wait = next((d["wait_s"] for d in signin.delays(now=now) if d["key"] == "name:mgr-wang@10.0.0.66"), 0)
        waits.append(wait)
        now += wait
    assert waits == [0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert "秒后再试" in signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=now - 1).message
    manager = signin.verify("mgr-wang", PASSWORD, "10.0.0.21", now=now)  # her own counter PC
    assert manager.ok and manager.user == {"name": "mgr-wang", "display": "mgr-wang", "role": "manager"}


def test_an_unknown_name_costs_and_answers_like_a_wrong_password(store: Store, hasher: WatchedHasher) -> None:
    signin = SignIn(store, Rules(free_failures=2))
    known = [signin.verify("mgr-wang", "guess-password", "10.0.0.66", now=0.0) for _ in range(3)]
    checks = signin.stats.checks
    unknown = [signin.verify("mgr-li", "guess-password", "10.0.0.66", now=0.0) for _ in range(3)]
    assert [(o.reason, o.message, o.retry_after) for o in known] == [
        (o.reason, o.message, o.retry_after) for o in unknown
    ]
    assert signin.stats.checks == 2 * checks  # a dummy hash was checked for the unknown name too
    assert [o.reason for o in unknown] == ["wrong", "wrong", "throttled"]


def test_one_address_cannot_spray_names(store: Store) -> None:
    signin = SignIn(store, Rules(free_failures=5, address_free_failures=6))
    names = [f"user{i:02d}" for i in range(8)]
    reasons = [signin.verify(n, "guess-password", "10.0.0.66", now=0.0).reason for n in names]
    assert reasons == ["wrong"] * 6 + ["throttled"] * 2
    assert signin.verify("mgr-wang", PASSWORD, "10.0.0.21", now=0.0).ok  # other machines are not slowed


def test_argon2_checks_are_capped(store: Store, hasher: WatchedHasher) -> None:
    signin = SignIn(store, Rules(slots=2))
    with ThreadPoolExecutor(12) as pool:  # twelve people at twelve machines, all at once
        list(pool.map(lambda i: signin.verify("mgr-wang", PASSWORD, f"10.0.1.{i}", now=0.0), range(12)))
    assert hasher.most == 2 and signin.stats.checks == 12


def test_no_slot_in_time_is_busy_and_not_counted(store: Store, hasher: WatchedHasher) -> None:
    signin = SignIn(store, Rules(slots=1, wait_s=0.05))
    hasher.release.clear()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(signin.verify, "mgr-wang", PASSWORD, "10.0.0.21", now=0.0)
        assert hasher.entered.wait(10)
        busy = signin.verify("mgr-wang", "guess-password", "10.0.0.66", now=0.0)
        hasher.release.set()
        assert first.result().ok
    assert busy.reason == "busy" and "稍后" in busy.message
    assert store.rows("SELECT key FROM throttle WHERE key LIKE '%10.0.0.66'") == []


def test_the_box_console_clears_delays(store: Store) -> None:
    signin = SignIn(store, Rules(free_failures=3))
    for address in ("10.0.0.66", "10.0.0.67"):
        attempts(signin, 4, address=address, now=0.0)
    assert signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=0.0).reason == "throttled"
    assert {d["key"] for d in signin.delays(now=0.0)} >= {"name:mgr-wang@10.0.0.66", "name:mgr-wang@10.0.0.67"}
    assert signin.unlock("mgr-wang") == 2
    assert signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=0.0).ok
    attempts(signin, 4, address="10.0.0.66", now=0.0)
    assert signin.unlock(address="10.0.0.66") == 2  # the name there and the address itself
    assert signin.verify("mgr-wang", PASSWORD, "10.0.0.66", now=0.0).ok


def test_a_quiet_day_forgets_the_count(store: Store) -> None:
    signin = SignIn(store, Rules(free_failures=3, forget_s=3600))
    attempts(signin, 3, now=0.0)
    assert signin.verify("mgr-wang", "guess-password", "10.0.0.66", now=0.5).reason == "throttled"
    assert signin.verify("mgr-wang", "guess-password", "10.0.0.66", now=0.5 + 3601).reason == "wrong"
    row = store.row("SELECT failures FROM throttle WHERE key = 'name:mgr-wang@10.0.0.66'")
    assert row is not None and row[0] == 1  # an hour of quiet: counted from one again
    signin.prune(now=10_000.0)
    assert store.rows("SELECT * FROM throttle") == []


def test_names_and_passwords_too_long_to_check_are_refused_before_any_work(store: Store) -> None:
    signin = SignIn(store)
    assert signin.verify("x" * 65, PASSWORD, "10.0.0.66", now=0.0).reason == "invalid"
    assert signin.verify("mgr-wang", "p" * 1025, "10.0.0.66", now=0.0).reason == "invalid"
    assert signin.stats.checks == 0 and store.rows("SELECT * FROM throttle") == []
