"""The face audit: every match, refusal, enrolment and deletion, on the box, before it takes effect.

``$HALL_HOME/vision/audit.db`` (SQLite, mode 0600, WAL, ``synchronous=FULL``)
holds one row per decision: when, where (``camera:<name>``, ``kiosk:<id>``,
``cli``), for which purpose, the decision, the customer's keyed reference (never
a number or a name), the similarity score, a reason and the kiosk's request id.
A decision is written (and on disk) before it is published or acted on, so a
crash never leaves an unaudited match. Rows are kept ``keep_days`` (default
three years, as PIPL art. 56 asks of impact-assessment records), then purged.

Decisions by purpose:

- ``ticket``: ``candidate`` (a name offered to the customer at the kiosk),
  ``abstained`` (unknown, unsure, no usable face…), ``refused`` (liveness failed),
  ``confirmed`` / ``rejected`` (the customer's answer on screen);
- ``vip_arrival``: ``announced`` (staff told), ``withheld`` (matched, but not
  tagged VIP by HQ, or no sign of life);
- ``enrolment``: ``enrolled``, ``refused``, ``rekeyed`` (the entry's reference made again under HQ's
  new customer key, when the customer's card was read during a rotation's overlap);
- ``withdrawal``: ``withdrawn`` (by the customer or an operator), ``expired``
  (unused for the retention period).

The rows never leave the box: ``hall vision audit`` lists them, the panel asks
the vision service for them over the bus (``face.audit.requested``), and HQ gets
:meth:`AuditLog.counts` per hour only (``face.audit_counts``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from edge.storage.db import no_room
from vision.errors import NoRoom, VisionError
from vision.private_db import open_private

MIGRATIONS = Migrations("audit")
KEEP_DAYS = 3 * 365
FIELDS = ("id", "at", "place", "purpose", "decision", "ref", "score", "reason", "request")
DECISIONS = {
    "ticket": ("candidate", "abstained", "refused", "confirmed", "rejected"),
    "vip_arrival": ("announced", "withheld"),
    "enrolment": ("enrolled", "refused", "rekeyed"),
    "withdrawal": ("withdrawn", "expired"),
}


class AuditError(VisionError):
    """The audit log cannot be written or read (the decision it was to record is not taken)."""

    code = "audit"


class AuditFull(AuditError, NoRoom):
    """The disk is full: no decision can be audited, so none is taken, until there is room."""


class AuditLog:
    """The audit rows of one hall; ``clock`` is injectable for tests."""

    def __init__(self, path: Path, *, clock: Any = time.time, keep_days: float = KEEP_DAYS) -> None:
        self.clock = clock
        self.keep_days = keep_days
        self.conn = open_private(
            path,
            MIGRATIONS,
            what="the face audit",
            error=AuditError,
            full=AuditFull,
            pragmas=("journal_mode = WAL", "synchronous = FULL"),
        )

    @classmethod
    def at_home(cls, home_root: Path, **kw: Any) -> AuditLog:
        return cls(home_root / "vision" / "audit.db", **kw)

    def close(self) -> None:
        self.conn.close()

    def record(
        self,
        *,
        place: str,
        purpose: str,
        decision: str,
        ref: str = "",
        score: float | None = None,
        reason: str = "",
        request: str = "",
    ) -> dict[str, Any]:
        """Write one decision durably; return the row. An unknown purpose or decision is a bug: refused."""
        if decision not in DECISIONS.get(purpose, ()):
            raise AuditError(f"no decision {decision!r} for purpose {purpose!r}")
        row = {
            "at": self.clock(),
            "place": place[:64],
            "purpose": purpose,
            "decision": decision,
            "ref": ref[:64],
            "score": None if score is None else round(float(score), 4),
            "reason": reason[:200],
            "request": request[:64],
        }
        try:
            cur = self.conn.execute(
                "INSERT INTO records (at, place, purpose, decision, ref, score, reason, request)"
                " VALUES (:at, :place, :purpose, :decision, :ref, :score, :reason, :request)",
                row,
            )
        except sqlite3.Error as exc:
            if no_room(exc):
                raise AuditFull("the disk is full: the face audit cannot be written until there is room") from exc
            raise AuditError(f"the face audit cannot be written: {exc}") from exc
        return {"id": int(cur.lastrowid or 0), **row}

    def since(self, t: float = 0.0, limit: int = 200, *, until: float | None = None) -> list[dict[str, Any]]:
        """Rows at or after ``t`` (and before ``until``), oldest first, at most ``limit``."""
        sql = f"SELECT {', '.join(FIELDS)} FROM records WHERE at >= ?"
        args: list[Any] = [t]
        if until is not None:
            sql += " AND at < ?"
            args.append(until)
        rows = self.conn.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [dict(zip(FIELDS, r, strict=True)) for r in rows]

    def latest(self, limit: int = 200) -> list[dict[str, Any]]:
        """The ``limit`` newest rows, oldest first."""
        rows = self.conn.execute(f"SELECT {', '.join(FIELDS)} FROM records ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(FIELDS, r, strict=True)) for r in reversed(rows.fetchall())]

    def last(self, *, purpose: str, decision: str, ref: str) -> float | None:
        """When this decision was last taken for this reference (for once-per-visit), or None."""
        row = self.conn.execute(
            "SELECT MAX(at) FROM records WHERE purpose = ? AND decision = ? AND ref = ?", (purpose, decision, ref)
        ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def counts(self, start: float, end: float) -> dict[str, dict[str, int]]:
        """``{purpose: {decision: n}}`` for rows in ``[start, end)``: what HQ may know."""
        out: dict[str, dict[str, int]] = {}
        rows = self.conn.execute(
            "SELECT purpose, decision, COUNT(*) FROM records WHERE at >= ? AND at < ? GROUP BY purpose, decision",
            (start, end),
        )
        for purpose, decision, n in rows:
            out.setdefault(purpose, {})[decision] = int(n)
        return out

    def first_time(self) -> float | None:
        row = self.conn.execute("SELECT MIN(at) FROM records").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def purge(self) -> int:
        """Delete rows older than ``keep_days``; return how many."""
        cur = self.conn.execute("DELETE FROM records WHERE at < ?", (self.clock() - self.keep_days * 86400.0,))
        return int(cur.rowcount)


@MIGRATIONS()
def m001_records(db: Database) -> None:
    db.execute(
        "CREATE TABLE records (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, place TEXT NOT NULL,"
        " purpose TEXT NOT NULL, decision TEXT NOT NULL, ref TEXT NOT NULL DEFAULT '', score REAL,"
        " reason TEXT NOT NULL DEFAULT '', request TEXT NOT NULL DEFAULT '')"
    )
    db.execute("CREATE INDEX records_at ON records(at)")
    db.execute("CREATE INDEX records_ref ON records(ref, purpose, decision)")
