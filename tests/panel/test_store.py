"""panel.db's schema versions: a file made before migrations existed upgrades in place, keeping everything."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from edge.panel.accounts import Store
from edge.panel.signin import SignIn
from edge.panel.store import AUDIT_DETAIL_MAX, MIGRATIONS, StoreError, open_db, pending

# panel.db as the panel wrote it before its schema had versions (two accounts, a session, five audit rows)
V0 = Path(__file__).parent / "data" / "panel-v0.sql"


def old_db(path: Path, *, plug: bool = False) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(V0.read_text())
    if plug:  # the 40 MB sign-in name of old: its audit row was larger than the bus takes
        conn.execute(
            "INSERT INTO audit (at, name, role, action, detail, ok, ip) VALUES (?, ?, '-', 'login', ?, 0, '10.0.0.66')",
            (1772420030.0, "A" * 5_000_000, json.dumps({"_name": "A" * 1_000_000})),
        )
    conn.commit()
    conn.close()
    return path


def test_a_fresh_file_gets_every_migration(tmp_path: Path) -> None:
    db = open_db(str(tmp_path / "panel.db"))
    names = [m.name for m in MIGRATIONS.applied(db)]
    assert names == ["m001_accounts", "m002_throttle", "m003_counter_bindings", "m004_bounded_audit"]
    assert set(db.table_names()) >= {"users", "sessions", "audit", "meta", "throttle", "bindings", "_sqlite_migrations"}


def test_an_old_file_upgrades_in_place_and_keeps_accounts_sessions_and_audit(tmp_path: Path) -> None:
    path = old_db(tmp_path / "panel.db", plug=True)
    before = sqlite3.connect(path).execute("SELECT digest, name, csrf FROM sessions").fetchall()
    store = Store(str(path), hasher=PasswordHasher())
    assert pending(store.db) == []
    cols = {c.name for c in store.db.table("users").columns}
    assert cols == {"name", "display", "role", "hash", "created_at", "disabled"}  # the old lock columns are gone
    assert [u["display"] for u in store.users()] == ["mgr-wang", "李娜"]
    assert [tuple(r) for r in store.rows("SELECT digest, name, csrf FROM sessions")] == before
    signin = SignIn(store)
    assert signin.verify("staff-li", "Harbour-Fig-5521", "192.168.10.21").ok  # the old hash still signs in
    rows = store.audit_rows(limit=10, unpublished=True)
    assert [r["id"] for r in rows] == [4, 5, 6]
    assert rows[1]["detail"] == {"counter": "1", "staff": "李娜", "number": None}
    plug = rows[2]
    assert len(plug["name"]) == 64 and plug["detail"]["truncated"] is True
    raw = store.row("SELECT length(name), length(detail) FROM audit WHERE id = 6")
    assert raw is not None and raw[0] == 64 and raw[1] <= AUDIT_DETAIL_MAX  # cut in the file, not only on the way out
    store.close()
    again = Store(str(path))
    assert [m.name for m in MIGRATIONS.applied(again.db)][-1] == "m004_bounded_audit"  # nothing runs twice
    again.close()


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = old_db(tmp_path / "panel.db")
    sqlite3.connect(path).execute("CREATE TABLE throttle (x)").connection.commit()  # m002 cannot create its table
    with pytest.raises(StoreError, match="throttle"):
        open_db(str(path))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone() == (0,)
    assert {r[1] for r in conn.execute("PRAGMA table_info(users)")} >= {"failures", "locked_until"}
