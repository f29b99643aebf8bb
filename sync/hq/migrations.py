"""HQ store migrations: numbered, append-only, run the same way on SQLite and PostgreSQL.

``schema_migrations`` records each migration applied (number, name, time). At
open, the store runs every migration above the highest recorded, each in its own
transaction together with its record, holding the migration lock (an advisory
lock on PostgreSQL; SQLite's write lock), so several HQ workers starting at once
apply each migration exactly once. A step is SQL in the subset both databases
share, or a Python function for data (sealing hall secrets). Migration 1 is the
schema HQ had before it was versioned (``CREATE … IF NOT EXISTS``), so a store
made by that version upgrades in place. A store newer than this software is
refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sync.errors import StoreUnavailable, SyncError
from sync.hq.dialect import Dialect
from sync.hq.secrets import SecretBox, is_sealed

Step = str | Callable[[Any, "Context"], None]


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    steps: tuple[Step, ...]


@dataclass
class Context:
    dialect: Dialect
    box: Callable[[Any], SecretBox]  # HQ's secrets key, loaded (or made) on first need
    sealed: int = 0


def _seal_secrets(cur: Any, ctx: Context) -> None:
    m = ctx.dialect.mark
    cur.execute("SELECT hall, secret FROM halls ORDER BY hall")
    clear = [(hall, secret) for hall, secret in cur.fetchall() if not is_sealed(secret)]
    if not clear:
        return
    box = ctx.box(cur)
    ctx.dialect.before_sealing(cur)
    for hall, secret in clear:
        cur.execute(f"UPDATE halls SET secret = {m} WHERE hall = {m}", (box.seal(hall, bytes.fromhex(secret)), hall))
    ctx.sealed = len(clear)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "halls, lanes, events, nonces, bundles",
        (
            """CREATE TABLE IF NOT EXISTS halls (
                hall       TEXT PRIMARY KEY,
                secret     TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                head       BIGINT NOT NULL DEFAULT 0,
                held       BIGINT NOT NULL DEFAULT 0,
                shed       BIGINT NOT NULL DEFAULT 0,
                last_seen  DOUBLE PRECISION,
                last_ack   DOUBLE PRECISION
            )""",
            """CREATE TABLE IF NOT EXISTS lanes (
                hall     TEXT NOT NULL REFERENCES halls(hall),
                lane     TEXT NOT NULL,
                cursor   BIGINT NOT NULL DEFAULT 0,
                acked_at DOUBLE PRECISION,
                PRIMARY KEY (hall, lane)
            )""",
            """CREATE TABLE IF NOT EXISTS events (
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
            )""",
            """CREATE TABLE IF NOT EXISTS nonces (
                hall  TEXT NOT NULL,
                nonce TEXT NOT NULL,
                at    DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (hall, nonce)
            )""",
            """CREATE TABLE IF NOT EXISTS bundles (
                version      BIGINT NOT NULL,
                target       TEXT NOT NULL,
                published_at TEXT NOT NULL,
                body         TEXT NOT NULL,
                PRIMARY KEY (version, target)
            )""",
            """CREATE TABLE IF NOT EXISTS bundle_results (
                hall    TEXT NOT NULL REFERENCES halls(hall),
                version BIGINT NOT NULL,
                applied BOOLEAN NOT NULL,
                error   TEXT,
                at      DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (hall, version)
            )""",
        ),
    ),
    Migration(
        2,
        "hall secrets sealed with HQ's key file; store facts; nonce expiry index",
        (
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE INDEX nonces_at ON nonces (at)",
            _seal_secrets,
        ),
    ),
    Migration(
        3,
        "one-time provisioning tokens; the public keys of each hall's box",
        (
            """CREATE TABLE provision_tokens (
                digest     TEXT PRIMARY KEY,
                hall       TEXT NOT NULL,
                config     TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL,
                used_at    DOUBLE PRECISION
            )""",
            """CREATE TABLE hall_boxes (
                hall           TEXT PRIMARY KEY REFERENCES halls(hall),
                sync_key       TEXT NOT NULL,
                bus_key        TEXT,
                hostname       TEXT NOT NULL,
                version        TEXT NOT NULL,
                provisioned_at DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
    Migration(
        4,
        "the fleet: hall names and regions, per-day figures, open alerts, devices; HQ's operators",
        (
            "ALTER TABLE halls ADD COLUMN name TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE halls ADD COLUMN region TEXT NOT NULL DEFAULT ''",
            """CREATE TABLE hall_days (
                hall       TEXT NOT NULL REFERENCES halls(hall),
                day        TEXT NOT NULL,
                tickets    BIGINT NOT NULL DEFAULT 0,
                waits      BIGINT NOT NULL DEFAULT 0,
                wait_s     DOUBLE PRECISION NOT NULL DEFAULT 0,
                ratings    BIGINT NOT NULL DEFAULT 0,
                rating_sum BIGINT NOT NULL DEFAULT 0,
                first_seq  BIGINT,
                PRIMARY KEY (hall, day)
            )""",
            """CREATE TABLE hall_alerts (
                hall      TEXT NOT NULL REFERENCES halls(hall),
                key       TEXT NOT NULL,
                rule      TEXT NOT NULL,
                message   TEXT NOT NULL,
                raised_at TEXT NOT NULL,
                PRIMARY KEY (hall, key)
            )""",
            """CREATE TABLE hall_devices (
                hall   TEXT NOT NULL REFERENCES halls(hall),
                device TEXT NOT NULL,
                state  TEXT NOT NULL,
                detail TEXT NOT NULL,
                at     TEXT NOT NULL,
                PRIMARY KEY (hall, device)
            )""",
            """CREATE TABLE operators (
                name       TEXT PRIMARY KEY,
                role       TEXT NOT NULL,
                hash       TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE operator_sessions (
                digest     TEXT PRIMARY KEY,
                name       TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
                csrf       TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                last_at    DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE signin_throttle (
                key        TEXT PRIMARY KEY,
                failures   BIGINT NOT NULL,
                not_before DOUBLE PRECISION NOT NULL,
                last_at    DOUBLE PRECISION NOT NULL
            )""",
        ),
    ),
    Migration(
        5,
        "customer keys HQ issues per hall, region or fleet, sealed; bundles for a region",
        (
            """CREATE TABLE customer_keys (
                id          TEXT PRIMARY KEY,
                scope       TEXT NOT NULL,
                sealed      TEXT NOT NULL,
                created_at  DOUBLE PRECISION NOT NULL,
                retired_at  DOUBLE PRECISION,
                accept_until DOUBLE PRECISION
            )""",
            "CREATE INDEX customer_keys_scope ON customer_keys (scope, created_at)",
        ),
    ),
    Migration(
        6,
        "repair reports from the halls, and the status updates HQ sends down",
        (
            """CREATE TABLE repairs (
                hall          TEXT NOT NULL REFERENCES halls(hall),
                reference     TEXT NOT NULL,
                seq           BIGINT NOT NULL,
                kind          TEXT NOT NULL,
                phone         TEXT NOT NULL,
                place         TEXT NOT NULL,
                description   TEXT NOT NULL,
                photos        BIGINT NOT NULL,
                reported_at   TEXT NOT NULL,
                state         TEXT NOT NULL,
                note          TEXT NOT NULL,
                updated_at    DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (hall, reference)
            )""",
            "CREATE INDEX repairs_state ON repairs (state, reported_at)",
            """CREATE TABLE repair_updates (
                id        BIGINT PRIMARY KEY,
                hall      TEXT NOT NULL,
                reference TEXT NOT NULL,
                state     TEXT NOT NULL,
                note      TEXT NOT NULL,
                at        DOUBLE PRECISION NOT NULL,
                operator  TEXT NOT NULL,
                delivered BOOLEAN NOT NULL DEFAULT FALSE,
                FOREIGN KEY (hall, reference) REFERENCES repairs (hall, reference)
            )""",
            "CREATE INDEX repair_updates_hall ON repair_updates (hall, id)",
        ),
    ),
)

VERSIONS = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL
)"""


def latest() -> int:
    return MIGRATIONS[-1].number


def migrate(tx: Callable[[], AbstractContextManager[Any]], ctx: Context) -> list[int]:
    """Apply every migration above the store's version; return the numbers applied."""
    numbers = [m.number for m in MIGRATIONS]
    if numbers != list(range(1, len(numbers) + 1)):
        raise SyncError(f"HQ store migrations must be numbered 1, 2, 3… in order; found {numbers}")
    applied: list[int] = []
    while (number := _apply_next(tx, ctx)) is not None:
        applied.append(number)
    return applied


def _apply_next(tx: Callable[[], AbstractContextManager[Any]], ctx: Context) -> int | None:
    """Apply the first migration above the store's version, in one transaction; None when there is none."""
    d = ctx.dialect
    with tx() as cur:
        d.lock_migrations(cur)
        cur.execute(VERSIONS)
        cur.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        current = int(cur.fetchone()[0])
        if current > latest():
            raise StoreUnavailable(
                f"HQ store has schema version {current}, newer than this software knows ({latest()}): "
                "upgrade hall on this machine"
            )
        todo = next((m for m in MIGRATIONS if m.number > current), None)
        if todo is None:
            return None
        try:
            for step in todo.steps:
                if isinstance(step, str):
                    cur.execute(step)
                else:
                    step(cur, ctx)
        except SyncError:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"HQ store migration {todo.number} ({todo.name}) failed: {exc}") from exc
        cur.execute(
            f"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({d.marks(3)})",
            (todo.number, todo.name, time.time()),
        )
    return todo.number
