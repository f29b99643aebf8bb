"""What the checks read: the hall's ``hall.db`` and HQ's SQLite store, opened read-only with sqlite3.

The harness reads the rows itself rather than asking the services it is testing.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

from chaos.check import Event, Gap, Health, Ticket
from chaos.history import HeldImport


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.execute("PRAGMA query_only = 1")
    return conn


class HallStore:
    """``hall.db``, read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def head(self) -> int:
        with closing(_open(self.path)) as db:
            return int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def tickets(self) -> list[Ticket]:
        with closing(_open(self.path)) as db:
            rows = db.execute("SELECT id, day, series, seq, number FROM tickets WHERE parent_id IS NULL").fetchall()
        return [Ticket(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]

    def events(self, head: int) -> list[Event]:
        with closing(_open(self.path)) as db:
            rows = db.execute("SELECT seq, id, topic FROM events WHERE seq <= ? ORDER BY seq", (head,)).fetchall()
        return [Event(int(r[0]), r[1], r[2]) for r in rows]

    def reclaimed(self) -> dict[str, int]:
        with closing(_open(self.path)) as db:
            return {r[0]: int(r[1]) for r in db.execute("SELECT lane, reclaimed FROM sync_lanes")}

    def gaps(self) -> list[Gap]:
        with closing(_open(self.path)) as db:
            rows = db.execute("SELECT data FROM events WHERE topic = 'sync.gap'").fetchall()
        return [_gap(json.loads(r[0])) for r in rows]

    def health(self) -> list[Health]:
        with closing(_open(self.path)) as db:
            rows = db.execute("SELECT seq, ts, data FROM events WHERE topic = 'device.health' ORDER BY seq").fetchall()
        return [_health(*r) for r in rows]

    def count(self, topic_prefix: str) -> int:
        with closing(_open(self.path)) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM events WHERE topic >= ? AND topic < ?", (topic_prefix, topic_prefix + "\uffff")
            ).fetchone()
        return int(row[0])

    def imports(self) -> dict[str, HeldImport]:
        """Every history import the hall holds: its state, the rows it read, the history rows under it."""
        with closing(_open(self.path)) as db:
            rows = db.execute(
                "SELECT i.import_id, i.state, i.rows, (SELECT COUNT(*) FROM history h WHERE h.import_id = i.import_id)"
                " FROM history_imports i"
            ).fetchall()
        return {r[0]: HeldImport(r[1], int(r[2]), int(r[3])) for r in rows}

    def last_import_done(self) -> float | None:
        with closing(_open(self.path)) as db:
            row = db.execute("SELECT MAX(at) FROM history_imports WHERE state = 'done' AND added > 0").fetchone()
        return None if row[0] is None else float(row[0])

    def plan_saved(self, kind: str, key: str) -> float | None:
        with closing(_open(self.path)) as db:
            row = db.execute("SELECT saved_at FROM plans WHERE kind = ? AND key = ?", (kind, key)).fetchone()
        return None if row is None else float(row[0])


class HqStore:
    """HQ's SQLite store, read-only: one hall's events in the order they arrived."""

    def __init__(self, path: Path, hall: str) -> None:
        self.path = path
        self.hall = hall

    def events(self) -> list[Event]:
        with closing(_open(self.path)) as db:
            rows = db.execute(
                "SELECT seq, id, topic, lane FROM events WHERE hall = ? ORDER BY rowid", (self.hall,)
            ).fetchall()
        return [Event(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def seqs(self) -> set[int]:
        with closing(_open(self.path)) as db:
            return {int(r[0]) for r in db.execute("SELECT seq FROM events WHERE hall = ?", (self.hall,))}

    def gaps(self) -> list[Gap]:
        with closing(_open(self.path)) as db:
            rows = db.execute("SELECT data FROM events WHERE hall = ? AND topic = 'sync.gap'", (self.hall,)).fetchall()
        return [_gap(json.loads(r[0])) for r in rows]

    def health(self) -> list[Health]:
        with closing(_open(self.path)) as db:
            rows = db.execute(
                "SELECT seq, ts, data FROM events WHERE hall = ? AND topic = 'device.health' ORDER BY seq", (self.hall,)
            ).fetchall()
        return [_health(*r) for r in rows]


def history(hall: HallStore, hq: HqStore) -> list[Health]:
    """Every durable ``device.health`` of the run: the hall's log reclaims what HQ holds (on a full disk)."""
    return sorted({h.seq: h for h in [*hq.health(), *hall.health()]}.values(), key=lambda h: h.seq)


def _health(seq: int, ts: str, raw: str) -> Health:
    data = json.loads(raw)
    return Health(int(seq), datetime.fromisoformat(ts), str(data.get("device")), str(data.get("state")))


def _gap(data: dict[str, Any]) -> Gap:
    return Gap(int(data["first"]), int(data["last"]), str(data.get("lane", "analytics")))
