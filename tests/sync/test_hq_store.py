"""HQ's store on SQLite and on a real PostgreSQL: migrations, sealed hall keys, consistent batches."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from edge.errors import HallError
from sync.errors import Inconsistent, KeyFileError, StoreUnavailable
from sync.hq.store import Gap, Store, open_store

# The schema HQ shipped before its store had versions, as it was created then (copied, not imported).
UNVERSIONED = """
CREATE TABLE IF NOT EXISTS halls (hall TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
    head BIGINT NOT NULL DEFAULT 0, held BIGINT NOT NULL DEFAULT 0, shed BIGINT NOT NULL DEFAULT 0,
    last_seen DOUBLE PRECISION, last_ack DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS lanes (hall TEXT NOT NULL REFERENCES halls(hall), lane TEXT NOT NULL,
    cursor BIGINT NOT NULL DEFAULT 0, acked_at DOUBLE PRECISION, PRIMARY KEY (hall, lane));
CREATE TABLE IF NOT EXISTS events (hall TEXT NOT NULL REFERENCES halls(hall), seq BIGINT NOT NULL, lane TEXT NOT NULL,
    id TEXT NOT NULL, ts TEXT NOT NULL, source TEXT NOT NULL, topic TEXT NOT NULL, data TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall, seq));
CREATE TABLE IF NOT EXISTS nonces (hall TEXT NOT NULL, nonce TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall, nonce));
CREATE TABLE IF NOT EXISTS bundles (version BIGINT NOT NULL, target TEXT NOT NULL, published_at TEXT NOT NULL,
    body TEXT NOT NULL, PRIMARY KEY (version, target));
CREATE TABLE IF NOT EXISTS bundle_results (hall TEXT NOT NULL REFERENCES halls(hall), version BIGINT NOT NULL,
    applied BOOLEAN NOT NULL, error TEXT, at DOUBLE PRECISION NOT NULL, PRIMARY KEY (hall, version))
"""
OLD_KEY = bytes.fromhex("5e" * 16 + "c3" * 16)


def ev(seq: int, topic: str = "ticket.issued", id: str | None = None) -> dict[str, Any]:
    return {"v": 1, "id": id or f"e{seq}", "ts": "2026-11-25T01:00:00.000+00:00", "source": "core",
            "topic": topic, "data": {"n": seq}, "seq": seq}  # fmt: skip


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "hq.key"


@pytest.fixture
def store(hq_db: str, key_file: Path) -> Any:
    st = open_store(hq_db, key_file=key_file)
    yield st
    st.close()


def check_opens(url: str, key_file: Path) -> None:
    st = open_store(url, key_file=key_file)
    try:
        st.check_secrets()
    finally:
        st.close()


def make_unversioned(url: str) -> sqlite3.Connection | None:
    """A store as the unversioned HQ left it: one hall with its key in clear, a few events, a cursor.

    For SQLite, the connection that wrote it is returned still open, so its write-ahead log (which
    holds the clear key too) is still there when the store is upgraded; close it after.
    """
    rows = [
        ("INSERT INTO halls (hall, secret, created_at, head, held) VALUES (?, ?, 1.0, 3, 2)", ("h1", OLD_KEY.hex())),
        ("INSERT INTO lanes (hall, lane, cursor) VALUES ('h1', 'alerts', 0)", ()),
        ("INSERT INTO lanes (hall, lane, cursor) VALUES ('h1', 'records', 3)", ()),
        ("INSERT INTO lanes (hall, lane, cursor) VALUES ('h1', 'analytics', 0)", ()),
        ("INSERT INTO events VALUES ('h1', 1, 'records', 'e1', 't', 'core', 'ticket.issued', '{}', 1.0)", ()),
        ("INSERT INTO events VALUES ('h1', 3, 'records', 'e3', 't', 'core', 'ticket.called', '{}', 1.0)", ()),
    ]
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            for statement in UNVERSIONED.split(";\n"):
                conn.execute(statement)
            for sql, params in rows:
                conn.execute(sql.replace("?", "%s"), params)
        return None
    conn = sqlite3.connect(url)
    conn.execute("PRAGMA journal_mode = WAL")  # as the unversioned store opened its file
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.executescript(UNVERSIONED + ";")
    for sql, params in rows:
        conn.execute(sql, params)
    conn.commit()
    os.chmod(url, 0o644)
    assert OLD_KEY.hex().encode() in Path(url + "-wal").read_bytes()
    return conn


def raw_secret(url: str) -> str:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT secret FROM halls WHERE hall = 'h1'").fetchone()
    else:
        with closing(sqlite3.connect(url)) as conn:
            row = conn.execute("SELECT secret FROM halls WHERE hall = 'h1'").fetchone()
    assert row is not None
    return str(row[0])


def test_an_unversioned_store_upgrades_in_place(hq_db: str, key_file: Path) -> None:
    old_writer = make_unversioned(hq_db)
    st = open_store(hq_db, key_file=key_file)
    if old_writer is not None:
        old_writer.close()
    try:
        assert st.migrated == [1, 2, 3, 4, 5, 6] and st.schema_version() == 6
        assert st.hall_key("h1") == OLD_KEY
        assert [e["seq"] for e in st.events("h1")] == [1, 3]
        assert st.cursors("h1") == {"alerts": 0, "records": 3, "analytics": 0}
        assert st.ingest("h1", "records", 3, 4, [ev(4)], now=2.0) == 4
    finally:
        st.close()
    sealed = raw_secret(hq_db)
    assert sealed.startswith("v1.") and OLD_KEY.hex() not in sealed
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = open_store(hq_db, key_file=key_file)  # opening again applies nothing
    try:
        assert again.migrated == [] and again.hall_key("h1") == OLD_KEY
    finally:
        again.close()
    if not hq_db.startswith("postgresql://"):
        # the key is nowhere in the database's files any more, and they are the owner's alone
        for suffix in ("", "-wal", "-shm"):
            path = Path(hq_db + suffix)
            if path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
                data = path.read_bytes()
                assert OLD_KEY.hex().encode() not in data and OLD_KEY not in data, path


def test_a_new_sqlite_store_and_its_key_file_are_private(tmp_path: Path) -> None:
    db = tmp_path / "hq.db"
    os.umask(0o022)
    st = open_store(str(db))  # the key file goes beside an SQLite store by default
    try:
        st.add_hall("h1", OLD_KEY)
        assert st.hall_key("h1") == OLD_KEY
    finally:
        st.close()
    for path in (db, tmp_path / "hq.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert OLD_KEY.hex().encode() not in db.read_bytes()
    assert len(bytes.fromhex((tmp_path / "hq.key").read_text().strip())) == 32


def test_a_lost_or_wrong_key_file_is_a_clear_error(hq_db: str, key_file: Path, tmp_path: Path) -> None:
    st = open_store(hq_db, key_file=key_file)
    st.add_hall("h1", OLD_KEY)
    st.close()
    key_file.rename(tmp_path / "moved.key")
    with pytest.raises(KeyFileError) as lost:
        check_opens(hq_db, key_file)
    text = str(lost.value)
    assert str(key_file) in text and "is missing" in text and "Restore the file" in text
    assert "hall hq key reset" in text and "--rotate" in text
    assert not key_file.exists()  # a lost key file is not silently replaced by a new one

    other = tmp_path / "other.key"
    other.write_text("ab" * 32 + "\n")
    other.chmod(0o600)
    with pytest.raises(
        KeyFileError, match=r"holds key [0-9a-f]{16}, but this store's hall keys are sealed with key [0-9a-f]{16}"
    ):
        check_opens(hq_db, other)
    other.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"mode 0644\): chmod 600"):
        check_opens(hq_db, other)

    (tmp_path / "moved.key").rename(key_file)  # restored from the backup: every hall's key opens again
    st = open_store(hq_db, key_file=key_file)
    try:
        assert st.hall_key("h1") == OLD_KEY
    finally:
        st.close()


def test_key_reset_after_a_loss_for_good(hq_db: str, key_file: Path) -> None:
    st = open_store(hq_db, key_file=key_file)
    st.add_hall("h1", OLD_KEY)
    st.close()
    key_file.unlink()
    st = open_store(hq_db, key_file=key_file)
    try:
        assert st.reset_key_file() == 1
        with pytest.raises(KeyFileError, match="issue it a new credential"):
            st.hall_key("h1")
        st.rotate_key("h1", bytes(32))
        assert st.hall_key("h1") == bytes(32)
    finally:
        st.close()


def test_a_store_newer_than_the_software_is_refused(hq_db: str, key_file: Path) -> None:
    st = open_store(hq_db, key_file=key_file)
    with st._tx() as cur:
        cur.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)")
    st.close()
    with pytest.raises(StoreUnavailable, match="schema version 99, newer than this software knows"):
        open_store(hq_db, key_file=key_file)


def test_workers_starting_together_migrate_once(hq_db: str, key_file: Path) -> None:
    opened: list[Store] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_store(hq_db, key_file=key_file))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        assert sorted(n for st in opened for n in st.migrated) == [1, 2, 3, 4, 5, 6]
        opened[0].add_hall("h1", OLD_KEY)
        assert {st.hall_key("h1") for st in opened} == {OLD_KEY}
    finally:
        for st in opened:
            st.close()


def test_a_seq_held_in_another_lane_is_refused_and_nothing_dropped(store: Store) -> None:
    store.add_hall("h1", OLD_KEY)
    assert store.ingest("h1", "analytics", 0, 5, [ev(2, "flow.counted"), ev(5, "flow.counted")], now=1.0) == 5
    before = store.counts()
    with pytest.raises(Inconsistent) as refused:
        store.ingest("h1", "records", 0, 6, [ev(1), ev(5), ev(6)], now=1.0)
    err = refused.value
    assert (err.lane, err.seq, err.field) == ("records", 5, "events[1].seq")
    assert "already held at HQ in lane analytics" in str(err)
    assert store.counts() == before  # the whole batch refused: seq 1 and 6 not stored either
    assert store.cursors("h1")["records"] == 0
    assert store.ingest("h1", "records", 0, 6, [ev(1), ev(3), ev(6)], now=1.0) == 6  # gaps between seqs are normal
    assert [(e["seq"], e["topic"]) for e in store.events("h1")] == [
        (1, "ticket.issued"), (2, "flow.counted"), (3, "ticket.issued"), (5, "flow.counted"), (6, "ticket.issued"),
    ]  # fmt: skip


def test_a_resent_event_must_be_the_one_held(store: Store) -> None:
    store.add_hall("h1", OLD_KEY)
    store.ingest("h1", "records", 0, 4, [ev(1), ev(4)], now=1.0)
    assert store.ingest("h1", "records", 0, 4, [ev(1), ev(4)], now=1.0) == 4  # the same again: held once
    with pytest.raises(Inconsistent, match=r"seq 4 \(event other\) is held at HQ as event e4 of lane records"):
        store.ingest("h1", "records", 0, 9, [ev(1), ev(4, id="other"), ev(9)], now=1.0)
    with pytest.raises(Inconsistent, match="seq 2 is at or below HQ's cursor of this lane, but HQ never received"):
        store.ingest("h1", "records", 1, 9, [ev(2), ev(4), ev(9)], now=1.0)
    with pytest.raises(Gap):
        store.ingest("h1", "records", 5, 9, [ev(9)], now=1.0)
    assert [e["seq"] for e in store.events("h1")] == [1, 4]


@pytest.mark.parametrize(
    ("after", "head", "seqs", "field", "words"),
    [
        (0, 2**62, [1], "head", "beyond 1099511627776"),
        (0, 3, [1, 5], "head", "head 3 is below the batch's last seq 5"),
        (2**62, 2**62, [2**62 + 1], "after", "beyond"),
        (0, 2**41, [2**41], "head", "beyond"),
        (0, 9, [3, 3], "events[1].seq", "seq 3 does not follow seq 3"),
        (0, 9, [4, 2], "events[1].seq", "seq 2 does not follow seq 4"),
        (5, 9, [5, 6], "events[0].seq", "not above the batch's after (5)"),
        (0, 9, [0], "events[0].seq", "outside 1…"),
        (0, 9, [-3], "events[0].seq", "outside 1…"),
    ],
)
def test_inconsistent_batches_name_the_field(
    store: Store, after: int, head: int, seqs: list[int], field: str, words: str
) -> None:
    store.add_hall("h1", OLD_KEY)
    before = store.counts()
    with pytest.raises(Inconsistent) as refused:
        store.ingest("h1", "records", after, head, [ev(s) for s in seqs], now=1.0)
    assert refused.value.field == field and words in str(refused.value)
    assert str(refused.value).startswith(f"lane records: {field}: ")
    assert store.counts() == before


def test_a_batch_of_5000_goes_in_whole(store: Store) -> None:
    store.add_hall("h1", OLD_KEY)
    records = [ev(s) for s in range(1, 10_001, 2)]
    assert store.ingest("h1", "records", 0, 10_000, records, now=1.0) == 9_999
    held = store.events("h1", 0, 10_000)
    assert [e["seq"] for e in held] == list(range(1, 10_001, 2))
    assert held[-1] == records[-1]
    assert store.status("h1")["held"] == 5000


def test_hall_errors_only(store: Store) -> None:
    """Whatever a signed box sends, the store answers with the hall's own errors."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    store.add_hall("h1", OLD_KEY)
    topics = st.sampled_from(["ticket.issued", "alert.raised", "flow.counted", "sync.gap"])
    seqs = st.one_of(st.integers(-2, 40), st.integers(2**39, 2**63))
    batch = st.tuples(
        st.sampled_from(["alerts", "records", "analytics", "nope"]),
        st.integers(-1, 40) | st.just(2**62),
        st.integers(-1, 60) | st.just(2**62),
        st.lists(st.tuples(seqs, topics), min_size=0, max_size=6),
    )

    @settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(batch)
    def one(b: tuple[str, int, int, list[tuple[int, str]]]) -> None:
        lane, after, head, items = b
        try:
            store.ingest("h1", lane, after, head, [ev(s, t) for s, t in items], now=1.0)
        except HallError:
            pass
        # whatever happened, each lane's cursor is the last seq held in it, and no seq is held twice
        held = store.events("h1", 0, 10_000)
        assert len({e["seq"] for e in held}) == len(held)
        for name, cursor in store.cursors("h1").items():
            from edge.schemas.sync import lane_of

            mine = [e["seq"] for e in held if lane_of(e["topic"]) == name]
            assert cursor == (max(mine) if mine else 0)

    one()


@pytest.mark.process
def test_hq_will_not_serve_without_its_key_file(hq_db: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.sync.conftest import HqServer

    hq = HqServer(hq_db, tmp_path / "hq.log")
    hq.add_hall("h1")
    assert stat.S_IMODE(hq.key_file.stat().st_mode) == 0o600
    hq.key_file.unlink()
    out = subprocess.run(
        [sys.executable, "-m", "edge", "hq", "serve", "--port", "0", *hq.store_args()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "is missing" in out.stderr and "Restore the file from your backup" in out.stderr
    assert "Traceback" not in out.stderr
    assert not hq.key_file.exists()
    listing = subprocess.run(
        [sys.executable, "-m", "edge", "hq", "hall", "list", "--db", hq_db], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0 and listing.stdout.split() == ["h1"]  # reading needs no key
