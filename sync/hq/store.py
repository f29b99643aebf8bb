"""HQ's store: halls and their keys, every hall's events by (hall, seq), cursors, bundles.

SQLite by default (``sqlite:///path`` or a plain path), PostgreSQL for a real HQ
(``postgresql://…``, psycopg 3). The SQL is the same for both; only placeholders
and row locking differ. Every write is one transaction.

Ingest is idempotent and gap-refusing, per lane (see :mod:`edge.schemas.sync`):
a batch names the lane cursor it follows (``after``). Events at or below HQ's
cursor are already held and are skipped; a batch whose ``after`` is above the
cursor would leave a hole and is refused with :class:`Gap`, naming the cursor.
Link status is computed from what was acknowledged: ``backlog`` is the box's
head (as reported with its last accepted batch) minus the events held and the
events the box reported shed; ``last_ack`` the time of the last accepted batch;
``last_seen`` the last authenticated request.

    >>> st = open_store(":memory:"); st.add_hall("h1", bytes(32))
    >>> ev = {"v": 1, "id": "e1", "ts": "t", "source": "core", "topic": "ticket.issued", "data": {}, "seq": 1}
    >>> st.ingest("h1", "records", 0, 1, [ev], now=0.0)
    1
    >>> st.ingest("h1", "records", 0, 1, [ev], now=0.0)  # again: held once
    1
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from edge.errors import Conflict, InvalidRequest, NotFound
from edge.schemas.sync import LANES, lane_of
from sync.errors import SyncError

SCHEMA = """
CREATE TABLE IF NOT EXISTS halls (
    hall       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    head       BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0,
    shed       BIGINT NOT NULL DEFAULT 0,
    last_seen  DOUBLE PRECISION,
    last_ack   DOUBLE PRECISION
);
CREATE TABLE IF NOT EXISTS lanes (
    hall     TEXT NOT NULL REFERENCES halls(hall),
    lane     TEXT NOT NULL,
    cursor   BIGINT NOT NULL DEFAULT 0,
    acked_at DOUBLE PRECISION,
    PRIMARY KEY (hall, lane)
);
CREATE TABLE IF NOT EXISTS events (
    hall        TEXT NOT NULL REFERENCES halls(hall),
    seq         BIGINT NOT NULL,
    lane        TEXT NOT NULL,
    id          TEXT NOT NULL,
    ts          TEXT NOT NULL,
    source      TEXT NOT NULL,
    topic       TEXT NOT NULL,
    data        TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall, seq)
);
CREATE TABLE IF NOT EXISTS nonces (
    hall  TEXT NOT NULL,
    nonce TEXT NOT NULL,
    at    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall, nonce)
);
CREATE TABLE IF NOT EXISTS bundles (
    version      BIGINT NOT NULL,
    target       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (version, target)
);
CREATE TABLE IF NOT EXISTS bundle_results (
    hall    TEXT NOT NULL REFERENCES halls(hall),
    version BIGINT NOT NULL,
    applied BOOLEAN NOT NULL,
    error   TEXT,
    at      DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (hall, version)
)
"""
ALL = "*"
NONCE_KEEP_S = 900.0


class Gap(SyncError):
    """A batch does not follow HQ's cursor of its lane."""

    code = "gap"

    def __init__(self, lane: str, cursor: int, after: int) -> None:
        super().__init__(f"lane {lane}: batch follows seq {after}, but HQ holds this lane only up to seq {cursor}")
        self.lane = lane
        self.cursor = cursor


class Store:
    def __init__(self, conn: Any, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.lock = threading.RLock()
        self._purged = 0.0
        with self._tx() as cur:
            for statement in SCHEMA.split(";\n"):
                cur.execute(statement)

    # -- plumbing ---------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self.lock:
            cur = self.conn.cursor()
            cur.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            try:
                yield _Cursor(cur, self)
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()

    # -- halls and authentication -------------------------------------------
    def add_hall(self, hall: str, key: bytes) -> None:
        with self._tx() as cur:
            cur.execute("SELECT 1 FROM halls WHERE hall = ?", (hall,))
            if cur.fetchone():
                raise Conflict(f"hall {hall} already has a credential (use --rotate to replace it)")
            cur.execute("INSERT INTO halls (hall, secret, created_at) VALUES (?, ?, ?)", (hall, key.hex(), time.time()))
            for lane in LANES:
                cur.execute("INSERT INTO lanes (hall, lane) VALUES (?, ?)", (hall, lane))

    def rotate_key(self, hall: str, key: bytes) -> None:
        with self._tx() as cur:
            cur.execute("UPDATE halls SET secret = ? WHERE hall = ?", (key.hex(), hall))
            if cur.rowcount != 1:
                raise NotFound(f"hall {hall} is not known to HQ")

    def hall_key(self, hall: str) -> bytes | None:
        with self._tx() as cur:
            cur.execute("SELECT secret FROM halls WHERE hall = ?", (hall,))
            row = cur.fetchone()
        return bytes.fromhex(row[0]) if row else None

    def use_nonce(self, hall: str, nonce: str, now: float) -> bool:
        """Remember ``nonce`` for ``hall``; False when it was already used (a replay)."""
        with self._tx() as cur:
            if now - self._purged > 60:
                cur.execute("DELETE FROM nonces WHERE at < ?", (now - NONCE_KEEP_S,))
                self._purged = now
            cur.execute(
                "INSERT INTO nonces (hall, nonce, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", (hall, nonce, now)
            )
            fresh: bool = cur.rowcount == 1
            if fresh:
                cur.execute("UPDATE halls SET last_seen = ? WHERE hall = ?", (now, hall))
        return fresh

    def halls(self) -> list[str]:
        with self._tx() as cur:
            cur.execute("SELECT hall FROM halls ORDER BY hall")
            return [r[0] for r in cur.fetchall()]

    # -- up ---------------------------------------------------------------------
    def ingest(self, hall: str, lane: str, after: int, head: int, events: list[dict[str, Any]], *, now: float) -> int:
        """Store a batch of one lane following ``after``; return the lane's cursor afterwards."""
        last = after
        for ev in events:
            if ev["seq"] <= last:
                raise InvalidRequest(f"events must be in increasing seq order after {after}: seq {ev['seq']} is not")
            if lane_of(ev["topic"]) != lane:
                raise InvalidRequest(f"event {ev['seq']} ({ev['topic']}) belongs to lane {lane_of(ev['topic'])}")
            last = ev["seq"]
        if head < last:
            raise InvalidRequest(f"head {head} is below the batch's last seq {last}")
        with self._tx() as cur:
            lock = " FOR UPDATE" if self.dialect == "postgres" else ""
            cur.execute(f"SELECT cursor FROM lanes WHERE hall = ? AND lane = ?{lock}", (hall, lane))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hall {hall} is not known to HQ")
            cursor = int(row[0])
            if after > cursor or (after < cursor and last > cursor and cursor not in {e["seq"] for e in events}):
                raise Gap(lane, cursor, after)
            new = [e for e in events if e["seq"] > cursor]
            if new:
                cur.executemany(
                    "INSERT INTO events (hall, seq, lane, id, ts, source, topic, data, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [
                        (hall, e["seq"], lane, e["id"], e["ts"], e["source"], e["topic"], _dumps(e["data"]), now)
                        for e in new
                    ],
                )
                shed = sum(int(e["data"].get("count", 0)) for e in new if e["topic"] == "sync.gap")
                cursor = new[-1]["seq"]
                cur.execute(
                    "UPDATE lanes SET cursor = ?, acked_at = ? WHERE hall = ? AND lane = ?", (cursor, now, hall, lane)
                )
                cur.execute(
                    "UPDATE halls SET held = held + ?, shed = shed + ?, head = CASE WHEN head > ? THEN head ELSE ? END, "
                    "last_ack = ? WHERE hall = ?",
                    (len(new), shed, head, head, now, hall),
                )
            else:
                cur.execute(
                    "UPDATE halls SET head = CASE WHEN head > ? THEN head ELSE ? END WHERE hall = ?", (head, head, hall)
                )
        return cursor

    def cursors(self, hall: str) -> dict[str, int]:
        with self._tx() as cur:
            cur.execute("SELECT lane, cursor FROM lanes WHERE hall = ?", (hall,))
            rows = cur.fetchall()
        if not rows:
            raise NotFound(f"hall {hall} is not known to HQ")
        return {r[0]: int(r[1]) for r in rows}

    def status(self, hall: str) -> dict[str, Any]:
        with self._tx() as cur:
            cur.execute("SELECT head, held, shed, last_seen, last_ack FROM halls WHERE hall = ?", (hall,))
            row = cur.fetchone()
            if row is None:
                raise NotFound(f"hall {hall} is not known to HQ")
            cur.execute("SELECT lane, cursor, acked_at FROM lanes WHERE hall = ?", (hall,))
            lanes = {r[0]: {"cursor": int(r[1]), "last_ack": _iso(r[2])} for r in cur.fetchall()}
            cur.execute(
                "SELECT version, applied, error, at FROM bundle_results WHERE hall = ? ORDER BY at DESC LIMIT 1",
                (hall,),
            )
            res = cur.fetchone()
        head, held, shed = int(row[0]), int(row[1]), int(row[2])
        return {
            "hall": hall,
            "head": head,
            "held": held,
            "shed": shed,
            "backlog": max(0, head - held - shed),
            "last_seen": _iso(row[3]),
            "last_ack": _iso(row[4]),
            "lanes": lanes,
            "bundle": {"version": int(res[0]), "applied": bool(res[1]), "error": res[2], "at": _iso(res[3])}
            if res
            else None,
        }

    def events(self, hall: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """The hall's events held, in seq order (across lanes)."""
        with self._tx() as cur:
            cur.execute(
                "SELECT seq, id, ts, source, topic, data FROM events WHERE hall = ? AND seq > ? ORDER BY seq LIMIT ?",
                (hall, after, limit),
            )
            rows = cur.fetchall()
        return [
            {"v": 1, "id": r[1], "ts": r[2], "source": r[3], "topic": r[4], "data": json.loads(r[5]), "seq": int(r[0])}
            for r in rows
        ]

    def counts(self) -> dict[str, int]:
        """Rows per data table (nonces excepted): what a rejected request must not change."""
        out = {}
        with self._tx() as cur:
            for table in ("halls", "events", "bundles", "bundle_results"):
                cur.execute(f"SELECT COUNT(*) FROM {table}")
                out[table] = int(cur.fetchone()[0])
            cur.execute("SELECT COALESCE(SUM(cursor), 0) FROM lanes")
            out["cursors"] = int(cur.fetchone()[0])
        return out

    # -- down -------------------------------------------------------------------
    def publish_bundle(self, body: dict[str, Any], hall: str | None = None) -> int:
        """Publish a bundle for one hall or all; its version is the body's, else the next one."""
        target = hall or ALL
        with self._tx() as cur:
            if hall is not None:
                cur.execute("SELECT 1 FROM halls WHERE hall = ?", (hall,))
                if not cur.fetchone():
                    raise NotFound(f"hall {hall} is not known to HQ")
            cur.execute("SELECT COALESCE(MAX(version), 0) FROM bundles")
            top = int(cur.fetchone()[0])
            version = body.get("version")
            if version is None:
                version = top + 1
            elif not isinstance(version, int) or version <= top:
                raise Conflict(f"bundle version {version!r} must be an integer above {top}, the latest published")
            body = {**body, "version": version}
            body.setdefault("published_at", _iso(time.time()))
            cur.execute(
                "INSERT INTO bundles (version, target, published_at, body) VALUES (?, ?, ?, ?)",
                (version, target, str(body["published_at"]), _dumps(body)),
            )
        return int(version)

    def bundle_for(self, hall: str, after: int) -> dict[str, Any] | None:
        """The newest bundle for ``hall`` (its own or one for all) above version ``after``."""
        with self._tx() as cur:
            cur.execute(
                "SELECT body FROM bundles WHERE target IN (?, ?) AND version > ? ORDER BY version DESC LIMIT 1",
                (hall, ALL, after),
            )
            row = cur.fetchone()
        return json.loads(row[0]) if row else None

    def record_bundle_result(self, hall: str, version: int, applied: bool, error: str | None, now: float) -> None:
        with self._tx() as cur:
            cur.execute("SELECT 1 FROM bundles WHERE version = ? AND target IN (?, ?)", (version, hall, ALL))
            if not cur.fetchone():
                raise NotFound(f"bundle version {version} was not published for hall {hall}")
            cur.execute(
                "INSERT INTO bundle_results (hall, version, applied, error, at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (hall, version) DO UPDATE SET applied = excluded.applied, error = excluded.error, "
                "at = excluded.at",
                (hall, version, applied, error, now),
            )


class _Cursor:
    """A DB-API cursor that takes ``?`` placeholders on both dialects."""

    def __init__(self, cur: Any, store: Store) -> None:
        self.cur = cur
        self.store = store

    def execute(self, sql: str, params: Any = ()) -> None:
        self.cur.execute(self.store._sql(sql), params)

    def executemany(self, sql: str, rows: list[Any]) -> None:
        self.cur.executemany(self.store._sql(sql), rows)

    def fetchone(self) -> Any:
        return self.cur.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self.cur.fetchall())

    @property
    def rowcount(self) -> int:
        return int(self.cur.rowcount)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _iso(ts: float | None) -> str | None:
    from edge.envelope import iso

    return iso(ts)


def open_store(url: str) -> Store:
    """``postgresql://…`` (psycopg 3), ``sqlite:///path``, or a path (``:memory:`` in tests)."""
    if url.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg

            pg: Any = psycopg.connect(url, autocommit=True)
        except Exception as exc:  # psycopg's errors and missing libpq alike
            raise SyncError(f"cannot open HQ store {_redact(url)}: {exc}") from exc
        return Store(pg, "postgres")
    path = url.removeprefix("sqlite://").removeprefix("/") if url.startswith("sqlite://") else url
    if url.startswith("sqlite:///"):
        path = "/" + url.removeprefix("sqlite:///")
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA busy_timeout = 5000")
        return Store(conn, "sqlite")
    except sqlite3.Error as exc:
        raise SyncError(f"cannot open HQ store {path}: {exc}") from exc


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url
