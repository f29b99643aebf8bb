"""The panel's account store: argon2id hashes, no default account, expiry, one-time setup token."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from edge.errors import Conflict, InvalidRequest
from edge.panel.accounts import LockedOut, LoginFailed, Store
from edge.panel.signin import SignIn

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "panel.db"), hasher=FAST, idle_s=600, max_age_s=3600)


def test_a_new_store_has_no_account_and_common_defaults_fail(store: Store) -> None:
    assert not store.has_users()
    signin = SignIn(store)
    for name, password in (("admin", "admin"), ("admin", "123456"), ("root", "root"), ("manager", "manager")):
        assert signin.verify(name, password, "10.0.0.9", now=0.0).reason == "wrong"


def test_passwords_are_stored_as_argon2id_hashes(store: Store, tmp_path: Path) -> None:
    store.add_user("wang", "manager", "Lantern-Quay-2718")
    raw = sqlite3.connect(tmp_path / "panel.db").execute("SELECT hash FROM users").fetchone()[0]
    assert raw.startswith("$argon2id$")
    assert "Lantern" not in raw
    assert PasswordHasher().verify(raw, "Lantern-Quay-2718")


def test_weak_or_bad_accounts_are_refused(store: Store) -> None:
    with pytest.raises(InvalidRequest, match="at least 8"):
        store.add_user("wang", "staff", "short")
    with pytest.raises(InvalidRequest, match="not be the user name"):
        store.add_user("wangfang", "staff", "WangFang")
    with pytest.raises(InvalidRequest, match="role"):
        store.add_user("wang", "boss", "Lantern-Quay-2718")
    store.add_user("wang", "staff", "Lantern-Quay-2718")
    with pytest.raises(Conflict, match="already exists"):
        store.add_user("wang", "staff", "Lantern-Quay-2718")


def test_sessions_expire_when_idle_or_too_old(store: Store) -> None:
    store.add_user("wang", "staff", "Lantern-Quay-2718")
    s = store.open_session("wang", now=0.0)
    assert store.session(s.token, now=500.0) is not None
    assert store.session(s.token, now=500.0 + 601) is None  # idle more than 600 s
    s = store.open_session("wang", now=0.0)
    for t in range(500, 3600, 500):  # kept busy, but the absolute limit still applies
        assert store.session(s.token, now=float(t)) is not None
    assert store.session(s.token, now=3601.0) is None
    assert store.session("forged-token", now=1.0) is None


def test_session_tokens_are_stored_hashed_and_csrf_compared(store: Store, tmp_path: Path) -> None:
    store.add_user("wang", "staff", "Lantern-Quay-2718")
    s = store.open_session("wang", now=0.0)
    stored = sqlite3.connect(tmp_path / "panel.db").execute("SELECT digest FROM sessions").fetchone()[0]
    assert stored != s.token and len(stored) == 64
    assert store.csrf_ok(s, s.csrf)
    assert not store.csrf_ok(s, None)
    assert not store.csrf_ok(s, s.csrf[:-1] + "x")


def test_setup_token_creates_the_first_manager_once(store: Store) -> None:
    token = store.new_setup_token()
    with pytest.raises(LoginFailed, match="wrong"):
        store.setup("nope", "wang", "Lantern-Quay-2718", now=0.0)
    assert store.setup(token, "wang", "Lantern-Quay-2718", now=0.0)["role"] == "manager"
    with pytest.raises(Conflict, match="setup is closed"):
        store.setup(token, "li", "Harbour-Fig-5521", now=0.0)


def test_guessing_the_setup_token_spends_it(store: Store) -> None:
    token = store.new_setup_token()
    with pytest.raises(LoginFailed):
        store.setup("a", "wang", "Lantern-Quay-2718", now=0.0, max_failures=3)
    with pytest.raises(LoginFailed):
        store.setup("b", "wang", "Lantern-Quay-2718", now=0.0, max_failures=3)
    with pytest.raises(LockedOut):
        store.setup("c", "wang", "Lantern-Quay-2718", now=0.0, max_failures=3)
    with pytest.raises(LoginFailed, match="no setup token"):
        store.setup(token, "wang", "Lantern-Quay-2718", now=0.0, max_failures=3)
    assert not store.has_users()


def test_disabling_a_user_ends_their_sessions(store: Store) -> None:
    store.add_user("wang", "staff", "Lantern-Quay-2718")
    s = store.open_session("wang", now=0.0)
    store.set_disabled("wang", True)
    assert store.session(s.token, now=1.0) is None
    assert SignIn(store).verify("wang", "Lantern-Quay-2718", "10.0.0.9", now=2.0).reason == "wrong"


def test_users_command(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "HALL_HOME": str(tmp_path / "home")}

    def hall(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge", "users", *args], input=stdin, env=env, capture_output=True, text=True
        )

    assert hall("add", "wang", "--role", "manager", "--password-stdin", stdin="Lantern-Quay-2718\n").returncode == 0
    again = hall("add", "wang", "--role", "staff", "--password-stdin", stdin="Lantern-Quay-2718\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = hall("add", "li", "--role", "staff", "--password-stdin", stdin="123\n")
    assert weak.returncode == 2 and "at least 8" in weak.stderr
    listed = json.loads(hall("list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("wang", "manager")]
    assert "Lantern" not in (tmp_path / "home" / "panel.db").read_bytes().decode("latin-1")
    assert hall("disable", "wang").returncode == 0
    store = Store(str(tmp_path / "home" / "panel.db"), hasher=FAST)
    assert SignIn(store).verify("wang", "Lantern-Quay-2718", "10.0.0.9", now=0.0).reason == "wrong"


def test_panel_section_of_the_hall_config() -> None:
    from edge import config
    from edge.errors import ConfigError
    from edge.panel.settings import PanelSettings

    cfg = config.load_text("[services.panel]\nport = 9090\nlockout_failures = 4\n", "hall.toml")
    settings = config.service_config(cfg, "panel", PanelSettings)
    assert (settings.port, settings.lockout_failures, settings.session_idle_minutes) == (9090, 4, 30)
    assert (settings.host, settings.redirect_port) == ("127.0.0.1", 8080)  # this machine only, unless the file says
    with pytest.raises(ConfigError, match=r"hall.toml:2: services.panel.lockout_failures"):
        config.load_text("[services.panel]\nlockout_failures = 1\n", "hall.toml")
    with pytest.raises(ConfigError, match="redirect_port"):
        config.service_config(config.load_text("[services.panel]\nport = 8080\n", "h.toml"), "panel", PanelSettings)
    with pytest.raises(ConfigError, match="tls_key"):
        config.service_config(config.load_text('[services.panel]\ntls_cert = "/x"\n', "h.toml"), "panel", PanelSettings)
