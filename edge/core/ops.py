"""The core's side of operations: history import and export, counts for forecasts, saved plans.

``register(core)`` serves the requests of :mod:`edge.schemas.ops` that deal with
history and plans (seats and occupancy are :mod:`edge.core.seats`).

History is the queue's own tickets plus what a hall imported from its old
system. On a business day the queue recorded itself, its own tickets are the
history and imported rows of that day are kept but not used, so importing an
export of this very box adds nothing twice. A visit is a customer's ticket from
issue to its end: a transferred ticket is one visit, called at its first call and
finished at the counter that finished it.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge import envelope
from edge.errors import Conflict, InvalidRequest
from edge.ops import history
from edge.queue.clock import business_day
from edge.schemas import ops as s

if TYPE_CHECKING:
    from edge.core.service import Core

STAGE_KEEP_S = 86400.0
DONE = "import_id IN (SELECT import_id FROM history_imports WHERE state = 'done')"
MAX_VISIT_DAYS = 62


def register(core: Core) -> None:
    area = OpsArea(core)
    for topic, handler in (
        ("history.stage", area.stage),
        ("history.commit", area.commit),
        ("history.abort", area.abort),
        ("history.summary", area.summary),
        ("history.visits", area.visits),
        ("history.counts", area.counts),
        ("plan.save", area.plan_save),
        ("plan.get", area.plan_get),
        ("roster.staff", area.roster_staff),
        ("roster.get", area.roster_get),
    ):
        core.route(topic, handler, s)
    core.tick_hooks.append(area.drop_stale_stages)


class OpsArea:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.core.cfg.hall.timezone)

    def day_of(self, ts: float) -> str:
        return business_day(ts, self.zone, self.core.cfg.hall.rollover_time)

    # -- import ---------------------------------------------------------------
    def _import_state(self, import_id: str) -> str | None:
        row = self.db.one("SELECT state FROM history_imports WHERE import_id = ?", (import_id,))
        return str(row[0]) if row else None

    def stage(self, req: s.HistoryStage, env: envelope.Envelope) -> dict[str, Any]:
        state = self._import_state(req.import_id)
        if state not in (None, "staging"):
            raise Conflict(f"import {req.import_id} is {state}; stage rows under a new import id")
        known = {b.code for b in self.core.cfg.businesses}
        now = self.core.clock()
        rows = []
        for r in req.rows:
            visit = history.Visit(
                r.business, r.issued_at, r.called_at, r.finished_at, r.counter, r.staff, r.rating, r.line
            )
            try:
                history.check(visit, known)
                if max(t for t in (r.issued_at, r.called_at, r.finished_at) if t is not None) > now + 60:
                    raise ValueError("a time is in the future")
                if r.key.split(":")[0] != visit.digest():
                    raise ValueError("its key does not match its content")
            except ValueError as exc:
                raise InvalidRequest(f"line {r.line}: {exc}") from None
            rows.append(
                (
                    req.import_id,
                    r.line,
                    r.key,
                    self.day_of(r.issued_at),
                    r.business,
                    r.issued_at,
                    r.called_at,
                    r.finished_at,
                    r.counter,
                    r.staff,
                    r.rating,
                    now,
                )
            )
        self.db.execute(
            "INSERT INTO history_imports (import_id, state, at) VALUES (?, 'staging', ?)"
            " ON CONFLICT(import_id) DO UPDATE SET at = excluded.at",
            (req.import_id, now),
        )
        try:
            self.db.conn.executemany(
                "INSERT INTO history_stage (import_id, line, key, day, business, issued_at, called_at, finished_at,"
                " counter, staff, rating, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"import {req.import_id}: a line or a key was sent twice") from None
        return {"import_id": req.import_id, "staged": len(rows)}

    def commit(self, req: s.HistoryCommit, env: envelope.Envelope) -> dict[str, Any]:
        """Move the next slice of an import's rows into history; the last slice makes the import count."""
        imp = self.db.one("SELECT state, rows FROM history_imports WHERE import_id = ?", (req.import_id,))
        if imp is None:
            raise Conflict(f"import {req.import_id}: nothing was staged; nothing imported")
        if imp["state"] == "done":
            return self._import_reply(req.import_id, 0)
        now = self.core.clock()
        if imp["state"] == "staging":
            row = self.db.one("SELECT COUNT(*) FROM history_stage WHERE import_id = ?", (req.import_id,))
            staged = int(row[0]) if row else 0
            if staged != req.rows:
                raise Conflict(
                    f"import {req.import_id}: {staged} row(s) arrived, {req.rows} were sent; nothing imported"
                )
            self.db.execute(
                "UPDATE history_imports SET state = 'moving', rows = ?, file = ?, at = ? WHERE import_id = ?",
                (staged, req.file, now, req.import_id),
            )
        lines = self.db.all(
            "SELECT line FROM history_stage WHERE import_id = ? ORDER BY line LIMIT ?", (req.import_id, req.slice)
        )
        if lines:
            lo, hi = lines[0][0], lines[-1][0]
            # a key an unfinished import left behind is taken over; a key of a done import stays as it is
            cur = self.db.execute(
                "INSERT INTO history (key, day, business, issued_at, called_at, finished_at, counter, staff, rating,"
                " import_id, imported_at)"
                " SELECT key, day, business, issued_at, called_at, finished_at, counter, staff, rating, import_id, ?"
                " FROM history_stage WHERE import_id = ? AND line >= ? AND line <= ? ORDER BY line"
                " ON CONFLICT(key) DO UPDATE SET import_id = excluded.import_id, imported_at = excluded.imported_at"
                " WHERE history.import_id NOT IN (SELECT import_id FROM history_imports WHERE state = 'done')",
                (now, req.import_id, lo, hi),
            )
            self.db.execute(
                "UPDATE history_imports SET added = added + ? WHERE import_id = ?", (cur.rowcount, req.import_id)
            )
            self.db.execute(
                "DELETE FROM history_stage WHERE import_id = ? AND line >= ? AND line <= ?", (req.import_id, lo, hi)
            )
        row = self.db.one("SELECT COUNT(*) FROM history_stage WHERE import_id = ?", (req.import_id,))
        remaining = int(row[0]) if row else 0
        if remaining:
            return {"import_id": req.import_id, "state": "moving", "remaining": remaining}
        self.db.execute("UPDATE history_imports SET state = 'done', at = ? WHERE import_id = ?", (now, req.import_id))
        out = self._import_reply(req.import_id, 0)
        self.core.emit("history.imported", out)
        return out

    def _import_reply(self, import_id: str, remaining: int) -> dict[str, Any]:
        imp = self.db.one("SELECT * FROM history_imports WHERE import_id = ?", (import_id,))
        assert imp is not None
        span = self.db.one(
            "SELECT MIN(day), MAX(day), SUM(day IN (SELECT DISTINCT day FROM tickets)) FROM history WHERE import_id = ?",
            (import_id,),
        )
        assert span is not None
        return {
            "import_id": import_id,
            "state": imp["state"],
            "remaining": remaining,
            "file": imp["file"],
            "rows": imp["rows"],
            "added": imp["added"],
            "already": imp["rows"] - imp["added"],
            "shadowed": int(span[2] or 0),
            "first": span[0],
            "last": span[1],
        }

    def abort(self, req: s.HistoryAbort, env: envelope.Envelope) -> dict[str, Any]:
        if self._import_state(req.import_id) == "done":
            raise Conflict(f"import {req.import_id} is done; it can no longer be dropped")
        return {"import_id": req.import_id, "dropped": self._drop(req.import_id)}

    def _drop(self, import_id: str) -> int:
        cur = self.db.execute("DELETE FROM history_stage WHERE import_id = ?", (import_id,))
        moved = self.db.execute("DELETE FROM history WHERE import_id = ?", (import_id,))
        self.db.execute("DELETE FROM history_imports WHERE import_id = ?", (import_id,))
        return cur.rowcount + moved.rowcount

    def drop_stale_stages(self) -> None:
        """Imports left unfinished for a day are dropped, with the rows they had moved."""
        stale = self.db.all(
            "SELECT import_id FROM history_imports WHERE state != 'done' AND at < ?",
            (self.core.clock() - STAGE_KEEP_S,),
        )
        for r in stale:
            self._drop(r[0])

    # -- reading ----------------------------------------------------------------
    def _own_days(self) -> set[str]:
        return {r[0] for r in self.db.all("SELECT DISTINCT day FROM tickets")}

    def summary(self, req: s.HistorySummary, env: envelope.Envelope) -> dict[str, Any]:
        own = self.db.one(
            "SELECT MIN(day), MAX(day), COUNT(DISTINCT day), COUNT(*) FROM tickets WHERE parent_id IS NULL"
        )
        imp = self.db.one(f"SELECT MIN(day), MAX(day), COUNT(DISTINCT day), COUNT(*) FROM history WHERE {DONE}")
        assert own is not None and imp is not None
        firsts = [d for d in (own[0], imp[0]) if d]
        lasts = [d for d in (own[1], imp[1]) if d]
        return {
            "first": min(firsts) if firsts else None,
            "last": max(lasts) if lasts else None,
            "own": {"first": own[0], "last": own[1], "days": own[2], "visits": own[3]},
            "imported": {"first": imp[0], "last": imp[1], "days": imp[2], "visits": imp[3]},
        }

    def _visits(self, first: str, last: str) -> list[dict[str, Any]]:
        """Every visit of the business days ``first``..``last``, own tickets first where the queue has them."""
        tickets = self.db.all("SELECT * FROM tickets WHERE day >= ? AND day <= ? ORDER BY issued_at", (first, last))
        ratings = {
            r["ticket_id"]: r["score"]
            for r in self.db.all(
                "SELECT e.ticket_id, e.score FROM evaluations e JOIN tickets t ON t.id = e.ticket_id"
                " WHERE t.day >= ? AND t.day <= ?",
                (first, last),
            )
        }
        child = {r["parent_id"]: r for r in tickets if r["parent_id"]}
        out: list[dict[str, Any]] = []
        for root in tickets:
            if root["parent_id"]:
                continue
            chain = [root]
            while chain[-1]["id"] in child and len(chain) < 50:
                chain.append(child[chain[-1]["id"]])
            end = chain[-1]
            done = end["state"] == "done"
            out.append(
                {
                    "day": root["day"],
                    "business": root["business"],
                    "issued_at": root["issued_at"],
                    "called_at": root["called_at"],
                    "finished_at": end["finished_at"] if done else None,
                    "counter": (end if end["counter"] else root)["counter"],
                    "staff": (end if end["staff"] else root)["staff"],
                    "rating": next((ratings[t["id"]] for t in chain if t["id"] in ratings), None),
                    "state": end["state"],
                }
            )
        own = {v["day"] for v in out}
        for r in self.db.all(
            f"SELECT * FROM history WHERE day >= ? AND day <= ? AND {DONE} ORDER BY issued_at, key", (first, last)
        ):
            if r["day"] in own:
                continue
            out.append(
                {
                    "day": r["day"],
                    "business": r["business"],
                    "issued_at": r["issued_at"],
                    "called_at": r["called_at"],
                    "finished_at": r["finished_at"],
                    "counter": r["counter"],
                    "staff": r["staff"],
                    "rating": r["rating"],
                    "state": "done" if r["finished_at"] else ("no_show" if r["called_at"] else "cancelled"),
                }
            )
        out.sort(key=lambda v: (v["issued_at"], v["business"]))
        return out

    def visits(self, req: s.HistoryVisits, env: envelope.Envelope) -> list[dict[str, Any]]:
        first, last = date.fromisoformat(req.first), date.fromisoformat(req.last)
        if last < first or (last - first).days > MAX_VISIT_DAYS:
            raise InvalidRequest(f"history.visits: last must be 0 to {MAX_VISIT_DAYS} days after first")
        return self._visits(req.first, req.last)

    def counts(self, req: s.HistoryCounts, env: envelope.Envelope) -> dict[str, Any]:
        """Arrivals per business, day and slot before ``before`` (and on ``day``), and handling times."""
        before = date.fromisoformat(req.before)
        first = (before - timedelta(weeks=req.weeks)).isoformat()
        visits = self._visits(first, (before - timedelta(days=1)).isoformat())
        if req.day:
            visits += self._visits(req.day, req.day)
        counts: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        handling: dict[str, list[float]] = defaultdict(list)
        zone = self.zone
        for v in visits:
            day = v["day"]
            midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), zone)
            slot = (
                int((datetime.fromtimestamp(v["issued_at"], zone) - midnight).total_seconds() // 60) // req.slot_minutes
            )
            counts[v["business"]][day][slot] += 1
            if v["finished_at"] is not None and v["called_at"] is not None and day < req.before:
                handling[v["business"]].append(v["finished_at"] - v["called_at"])
        return {
            "before": req.before,
            "slot_minutes": req.slot_minutes,
            "counts": {b: {d: dict(slots) for d, slots in days.items()} for b, days in counts.items()},
            "aht_minutes": {b: round(sum(h) / len(h) / 60, 3) for b, h in handling.items() if h},
            "handled": {b: len(h) for b, h in handling.items()},
        }

    # -- plans --------------------------------------------------------------------
    def plan_save(self, req: s.PlanSave, env: envelope.Envelope) -> dict[str, Any]:
        now = self.core.clock()
        self.db.execute(
            "INSERT INTO plans (kind, key, data, basis, saved_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, key)"
            " DO UPDATE SET data = excluded.data, basis = excluded.basis, saved_at = excluded.saved_at",
            (req.kind, req.key, json.dumps(req.data, ensure_ascii=False), req.basis, now),
        )
        self.core.emit("plan.saved", {"kind": req.kind, "key": req.key, "basis": req.basis})
        return {"kind": req.kind, "key": req.key, "saved_at": envelope.iso(now)}

    def plan(self, kind: str, key: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT data, basis, saved_at FROM plans WHERE kind = ? AND key = ?", (kind, key))
        if row is None:
            return None
        return {"kind": kind, "key": key, "data": json.loads(row[0]), "basis": row[1], "saved_at": envelope.iso(row[2])}

    def plan_get(self, req: s.PlanGet, env: envelope.Envelope) -> dict[str, Any] | None:
        return self.plan(req.kind, req.key)

    # -- rosters ----------------------------------------------------------------------
    def roster_staff(self, req: s.RosterStaff, env: envelope.Envelope) -> list[dict[str, Any]]:
        """The staff to roster: HQ's (from the bundle in force), else the config's ``[services.ops] staff``."""
        rows = self.db.all("SELECT data FROM bundle_items WHERE kind = 'staff' ORDER BY key")
        if rows:
            return [
                {"id": d["id"], "name": d["name"], "counters": d.get("counters", [])}
                for d in (json.loads(r[0]) for r in rows)
            ]
        from edge import config
        from edge.ops.config import OpsConfig

        ops = config.service_config(self.core.cfg, "ops", OpsConfig)
        return [p.model_dump() for p in ops.staff]

    def roster_get(self, req: s.RosterGet, env: envelope.Envelope) -> dict[str, Any]:
        monday = date.fromisoformat(req.week)
        if monday.weekday() != 0:
            raise InvalidRequest(f"roster.get: week {req.week} is not a Monday")
        lo, hi = req.week, (monday + timedelta(days=7)).isoformat()
        hq = [
            json.loads(r[0])
            for r in self.db.all(
                "SELECT data FROM bundle_items WHERE kind = 'roster' AND key >= ? AND key < ? ORDER BY key", (lo, hi)
            )
        ]
        return {"week": req.week, "suggested": self.plan("roster", req.week), "hq": hq}
