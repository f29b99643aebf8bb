"""The queue engine: every state change of tickets and counters, on the hall database.

Each public method is one request. It runs inside the caller's transaction,
writes the projection rows and the event rows together (``emit``), and returns
the reply. The core commits the transaction before it answers, so a reply a
customer saw is on disk. Time comes from ``clock`` so tests can move it::

    >>> from edge import config
    >>> from edge.storage import Database
    >>> db = Database(":memory:")
    >>> q = Queue(db, config.load_text("", defaults=True), clock=lambda: 1_767_000_000.0)
    >>> with db.atomic():
    ...     q.issue(s.TicketIssue(business="A"))["number"]
    'A001'

Requests arrive validated (the hub checks ``data`` against the topic's model
once and hands over the model), and every event written goes to the
:class:`~edge.storage.outbox.Outbox`, to be published after the commit.

Ticket states: ``issued → called → serving → done | no_show | transferred |
cancelled``. A transferred ticket keeps its number: a child ticket with the
same number waits in the new business (or for the named counter) in its
original place.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.config import HallConfig
from edge.errors import Conflict, InvalidRequest, NotFound
from edge.queue import selection
from edge.queue.clock import business_day, is_open, local_hhmm
from edge.queue.views import counter_view, ticket_view
from edge.schemas import queue as s
from edge.storage import Database
from edge.storage.outbox import Outbox

ACTIVE = ("called", "serving")


class Queue:
    def __init__(
        self,
        db: Database,
        cfg: HallConfig,
        *,
        clock: Callable[[], float] = time.time,
        source: str = "core",
        outbox: Outbox | None = None,
    ) -> None:
        self.db = db
        self.cfg = cfg
        self.clock = clock
        self.source = source
        self.zone = ZoneInfo(cfg.hall.timezone)
        self.outbox = outbox if outbox is not None else Outbox()
        with db.atomic():
            for counter in cfg.counters:
                db.execute("INSERT OR IGNORE INTO counters (id) VALUES (?)", (counter.id,))

    # -- plumbing ---------------------------------------------------------
    def emit(self, topic: str, data: dict[str, Any]) -> None:
        """Append an event to the log in the current transaction; publish after commit."""
        self.outbox.add(self.db.append_event(topic, data, source=self.source))

    def today(self) -> str:
        return business_day(self.clock(), self.zone, self.cfg.hall.rollover_time)

    def roll_day(self) -> None:
        """At the first write of a new business day, cancel the tickets still waiting from before."""
        today = self.today()
        last = self.db.get_meta("day")
        if last == today:
            return
        if last is not None:
            now = self.clock()
            stale = self.db.all("SELECT * FROM tickets WHERE state = 'issued' AND day < ?", (today,))
            for row in stale:
                self.db.execute(
                    "UPDATE tickets SET state = 'cancelled', finished_at = ?, end_reason = 'day_closed' WHERE id = ?",
                    (now, row["id"]),
                )
            # a customer still at a counter when the day closed: served (serving) or gone (called)
            left = self.db.all("SELECT * FROM tickets WHERE state IN ('called', 'serving') AND day < ?", (today,))
            for row in left:
                state = "done" if row["state"] == "serving" else "no_show"
                self.db.execute(
                    "UPDATE tickets SET state = ?, finished_at = ?, end_reason = 'day_closed' WHERE id = ?",
                    (state, now, row["id"]),
                )
                self.db.execute("UPDATE counters SET current_ticket = NULL WHERE current_ticket = ?", (row["id"],))
            self.emit(
                "day.rolled",
                {
                    "from": last,
                    "to": today,
                    "cancelled": [r["number"] for r in stale],
                    "closed": [r["number"] for r in left],
                },
            )
        self.db.set_meta("day", today)

    def _ticket(self, number: str, day: str | None = None) -> sqlite3.Row:
        day = day or self.today()
        row = self.db.one(
            "SELECT * FROM tickets WHERE day = ? AND number = ? ORDER BY rowid DESC LIMIT 1", (day, number)
        )
        if row is None:
            raise NotFound(f"no ticket {number} on {day}")
        return row

    def _ticket_by_id(self, ticket_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
        if row is None:
            raise NotFound(f"no ticket with id {ticket_id}")
        return row

    def _counter(self, counter_id: str) -> sqlite3.Row:
        try:
            self.cfg.counter(counter_id)
        except KeyError:
            raise NotFound(f"no counter {counter_id!r} in this hall") from None
        row = self.db.one("SELECT * FROM counters WHERE id = ?", (counter_id,))
        assert row is not None
        return row

    def _business(self, code: str) -> None:
        try:
            self.cfg.business(code)
        except KeyError:
            known = ", ".join(b.code for b in self.cfg.businesses)
            raise NotFound(f"no business {code!r} in this hall (known: {known})") from None

    def view(self, row: sqlite3.Row) -> dict[str, Any]:
        return ticket_view(row, self.cfg)

    # -- tickets ----------------------------------------------------------
    def issue(
        self, req: s.TicketIssue, *, appointment: sqlite3.Row | None = None, late: bool = False
    ) -> dict[str, Any]:
        self._business(req.business)
        now = self.clock()
        if self.cfg.hall.enforce_opening_hours and not is_open(now, self.cfg.hall):
            raise Conflict("the hall is closed now; tickets are issued during opening hours")
        priority: str = req.priority
        if priority == "green" and not self.cfg.business(req.business).green_channel:
            raise Conflict(f"business {req.business} has no green channel")
        tags: list[str] = []
        if req.customer is not None:
            tags = self._tags_of(req.customer.hash, *req.customer.also)
            if priority == "normal":
                for tag in self.cfg.tags:
                    if tag.name in tags and tag.priority != "none":
                        priority = tag.priority
                        break
        booked_at = None
        if appointment is not None and not late:
            priority, booked_at = "appointment", appointment["booked_at"]
        self.roll_day()
        day = self.today()
        row = self.db.one(
            "SELECT COALESCE(MAX(seq), 0) FROM tickets WHERE day = ? AND series = ? AND parent_id IS NULL",
            (day, req.business),
        )
        seq = int(row[0]) + 1 if row else 1
        number = f"{req.business}{seq:03d}"
        ticket_id = uuid.uuid4().hex
        cust = req.customer
        self.db.execute(
            "INSERT INTO tickets (id, day, series, seq, number, business, state, priority, queued_at, issued_at,"
            " booked_at, customer_kind, customer_hash, customer_masked, customer_name, appointment, tags)"
            " VALUES (?, ?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                day,
                req.business,
                seq,
                number,
                req.business,
                priority,
                now,
                now,
                booked_at,
                cust.kind if cust else None,
                cust.hash if cust else None,
                cust.masked if cust else None,
                cust.name_masked if cust else None,
                appointment["code"] if appointment is not None else None,
                json.dumps(tags),
            ),
        )
        ticket = self.view(self._ticket_by_id(ticket_id))
        ticket.update(self.estimate(ticket_id))
        ticket["channel"] = req.channel
        if late:
            ticket["note"] = "appointment_lapsed"
        self.emit("ticket.issued", ticket)
        return ticket

    def _tags_of(self, *digests: str) -> list[str]:
        """The tags of the first of a customer's hashes that has any (the key in force's first)."""
        for digest in digests:
            row = self.db.one("SELECT tags FROM customer_tags WHERE hash = ?", (digest,))
            if row:
                return list(json.loads(row[0]))
        return []

    def waiting(self) -> list[selection.Waiting]:
        rows = self.db.all("SELECT * FROM tickets WHERE state = 'issued' ORDER BY queued_at")
        return [
            selection.Waiting(
                r["id"], r["number"], r["business"], r["priority"], r["queued_at"], r["booked_at"], r["target_counter"]
            )
            for r in rows
        ]

    def estimate(self, ticket_id: str) -> dict[str, Any]:
        """People ahead and minutes to wait, from recent service times and the counters serving the business.

        ``counters_open`` counts the open (or paused) counters that serve the business: those with it as
        primary skill, else those with it as secondary. When none is open, ``wait_minutes`` is None (not
        0: nobody is being served) and ``wait_minutes_after_opening`` estimates the wait from when one
        opens, over the counters the config names for it (primary, else secondary; None if none does).
        """
        me = self.db.one("SELECT rowid AS position, * FROM tickets WHERE id = ?", (ticket_id,))
        if me is None:
            raise NotFound(f"no ticket with id {ticket_id}")
        business = me["business"]
        waiting = "state = 'issued' AND business = ? AND target_counter IS NULL AND id != ?"
        normals = self._count(
            f"SELECT COUNT(*) FROM tickets WHERE {waiting} AND priority = 'normal'", business, ticket_id
        )
        if me["priority"] in selection.PRIORITY_KINDS:
            key = (
                me["booked_at"] if me["priority"] == "appointment" and me["booked_at"] is not None else me["queued_at"]
            )
            prio_ahead = self._count(
                f"SELECT COUNT(*) FROM tickets WHERE {waiting} AND priority != 'normal'"
                " AND (CASE WHEN priority = 'appointment' AND booked_at IS NOT NULL THEN booked_at ELSE queued_at END) < ?",
                business,
                ticket_id,
                key,
            )
            q = self.cfg.queue
            ahead = prio_ahead + min(normals, math.ceil(prio_ahead * q.ratio_normal / q.ratio_priority))
        else:  # the normal tickets queued before this one, and every priority ticket waiting
            earlier = self._count(
                f"SELECT COUNT(*) FROM tickets WHERE {waiting} AND priority = 'normal'"
                " AND (queued_at < ? OR (queued_at = ? AND rowid < ?))",
                business,
                ticket_id,
                me["queued_at"],
                me["queued_at"],
                me["position"],
            )
            ahead = earlier + self._count(
                f"SELECT COUNT(*) FROM tickets WHERE {waiting} AND priority != 'normal'", business, ticket_id
            )
        row = self.db.one(
            "SELECT AVG(d), COUNT(*) FROM (SELECT finished_at - called_at AS d FROM tickets"
            " WHERE business = ? AND state = 'done' AND called_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?)",
            (business, self.cfg.queue.estimate_window),
        )
        if row is not None and row[1]:
            minutes_each = float(row[0]) / 60
        else:
            minutes_each = float(self.cfg.business(business).default_service_minutes)
        open_ids = {r["id"] for r in self.db.all("SELECT id FROM counters WHERE state IN ('open', 'paused')")}
        serving = self._serving(business, open_ids)
        if serving:
            wait = math.ceil(ahead * minutes_each / serving)
            return {"people_ahead": ahead, "counters_open": serving, "wait_minutes": wait}
        configured = self._serving(business, None)
        after = math.ceil(ahead * minutes_each / configured) if configured else None
        return {"people_ahead": ahead, "counters_open": 0, "wait_minutes": None, "wait_minutes_after_opening": after}

    def _serving(self, business: str, among: set[str] | None) -> int:
        """How many counters (of ``among``, or of the config) serve ``business``: primary ones, else secondary."""
        counters = [c for c in self.cfg.counters if among is None or c.id in among]
        primary = sum(1 for c in counters if business in c.primary)
        return primary or sum(1 for c in counters if business in c.secondary)

    def _count(self, sql: str, *params: Any) -> int:
        row = self.db.one(sql, params)
        return int(row[0]) if row else 0

    def show(self, req: s.TicketRef) -> dict[str, Any]:
        row = self._ticket(req.number, req.day)
        out = self.view(row)
        if row["state"] == "issued":
            out.update(self.estimate(row["id"]))
        chain = [row]
        while chain[-1]["parent_id"]:
            chain.append(self._ticket_by_id(chain[-1]["parent_id"]))
        ids = [r["id"] for r in chain]
        calls = self.db.all(f"SELECT * FROM calls WHERE ticket_id IN ({','.join('?' * len(ids))}) ORDER BY id", ids)
        out["calls"] = [
            {
                "counter": c["counter"],
                "at": datetime.fromtimestamp(c["at"], UTC).isoformat(timespec="seconds"),
                "rule": c["rule"],
                "detail": c["detail"],
                "passed": json.loads(c["passed"]),
            }
            for c in calls
        ]
        out["history"] = [
            {"business": r["business"], "state": r["state"], "counter": r["counter"]} for r in reversed(chain)
        ]
        marks = ",".join("?" * len(ids))
        ev = self.db.one(f"SELECT * FROM evaluations WHERE ticket_id IN ({marks})", ids)
        out["evaluation"] = {"score": ev["score"], "reasons": json.loads(ev["reasons"])} if ev else None
        return out

    def list_tickets(self, req: s.TicketList) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM tickets WHERE day = ?", [req.day or self.today()]
        if req.state:
            sql += " AND state = ?"
            params.append(req.state)
        if req.business:
            sql += " AND business = ?"
            params.append(req.business)
        if req.after:
            anchor = self.db.one("SELECT issued_at, rowid FROM tickets WHERE id = ?", (req.after,))
            if anchor is None:
                raise NotFound(f"no ticket with id {req.after} to list after")
            sql += " AND (issued_at, rowid) > (?, ?)"
            params += [anchor[0], anchor[1]]
        rows = self.db.all(sql + " ORDER BY issued_at, rowid LIMIT ?", [*params, req.limit])
        return [self.view(r) for r in rows]

    def cancel(self, req: s.TicketRef) -> dict[str, Any]:
        row = self._ticket(req.number, req.day)
        if row["state"] != "issued":
            raise Conflict(f"ticket {row['number']} is {row['state']}; only a waiting ticket can be cancelled")
        self.db.execute(
            "UPDATE tickets SET state = 'cancelled', finished_at = ?, end_reason = 'cancelled' WHERE id = ?",
            (self.clock(), row["id"]),
        )
        out = self.view(self._ticket_by_id(row["id"]))
        self.emit("ticket.cancelled", out)
        return out

    def evaluate(self, req: s.TicketEvaluate) -> dict[str, Any]:
        row = self._ticket(req.number, req.day)
        if row["state"] != "done":
            raise Conflict(f"ticket {row['number']} is {row['state']}; only a finished ticket can be rated")
        if self.db.one("SELECT 1 FROM evaluations WHERE ticket_id = ?", (row["id"],)):
            raise Conflict(f"ticket {row['number']} has already been rated")
        reasons = [r.strip()[:32] for r in req.reasons if r.strip()]
        staff = self.db.one("SELECT staff FROM counters WHERE id = ?", (row["counter"],))
        self.db.execute(
            "INSERT INTO evaluations (ticket_id, score, reasons, at, counter, staff) VALUES (?, ?, ?, ?, ?, ?)",
            (
                row["id"],
                req.score,
                json.dumps(reasons, ensure_ascii=False),
                self.clock(),
                row["counter"],
                staff[0] if staff else None,
            ),
        )
        out = {
            "number": row["number"],
            "business": row["business"],
            "counter": row["counter"],
            "score": req.score,
            "reasons": reasons,
        }
        self.emit("evaluation.recorded", out)
        return out

    # -- counters ---------------------------------------------------------
    def _set_counter(self, counter_id: str, **fields: Any) -> None:
        fields["changed_at"] = self.clock()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE counters SET {cols} WHERE id = ?", (*fields.values(), counter_id))

    def counter_list(self, req: s.Empty | None = None) -> list[dict[str, Any]]:
        rows = {r["id"]: r for r in self.db.all("SELECT * FROM counters")}
        out = []
        for c in self.cfg.counters:
            row = rows[c.id]
            current = self._ticket_by_id(row["current_ticket"]) if row["current_ticket"] else None
            out.append(counter_view(row, c, self.view(current) if current is not None else None))
        return out

    def _counter_reply(self, counter_id: str) -> dict[str, Any]:
        return next(c for c in self.counter_list() if c["id"] == counter_id)

    def _no_current(self, row: sqlite3.Row, doing: str) -> None:
        if row["current_ticket"]:
            number = self._ticket_by_id(row["current_ticket"])["number"]
            raise Conflict(
                f"counter {row['id']} still has {number}; finish, transfer or mark it no-show before {doing}"
            )

    def open(self, req: s.CounterOpen) -> dict[str, Any]:
        row = self._counter(req.counter)
        if row["state"] != "closed":
            raise Conflict(f"counter {req.counter} is already {row['state']}")
        staff = req.staff or None
        display = req.staff_display or staff
        self._set_counter(req.counter, state="open", staff=staff, staff_display=display, pause_reason=None)
        out = self._counter_reply(req.counter)
        self.emit("counter.opened", out)
        return out

    def close(self, req: s.CounterRef) -> dict[str, Any]:
        row = self._counter(req.counter)
        if row["state"] == "closed":
            raise Conflict(f"counter {req.counter} is already closed")
        self._no_current(row, "closing")
        self._set_counter(req.counter, state="closed", staff=None, staff_display=None, pause_reason=None)
        out = self._counter_reply(req.counter)
        self.emit("counter.closed", out)
        return out

    def pause(self, req: s.CounterPause) -> dict[str, Any]:
        row = self._counter(req.counter)
        if row["state"] != "open":
            raise Conflict(f"counter {req.counter} is {row['state']}; only an open counter can pause")
        self._no_current(row, "pausing")
        self._set_counter(req.counter, state="paused", pause_reason=req.reason)
        out = self._counter_reply(req.counter)
        self.emit("counter.paused", out)
        return out

    def resume(self, req: s.CounterRef) -> dict[str, Any]:
        row = self._counter(req.counter)
        if row["state"] != "paused":
            raise Conflict(f"counter {req.counter} is {row['state']}, not paused")
        self._set_counter(req.counter, state="open", pause_reason=None)
        out = self._counter_reply(req.counter)
        self.emit("counter.resumed", out)
        return out

    def call(self, req: s.CounterCall) -> dict[str, Any]:
        row = self._counter(req.counter)
        if row["state"] != "open":
            raise Conflict(f"counter {req.counter} is {row['state']}; open or resume it to call")
        self._no_current(row, "calling the next")
        self.roll_day()
        now = self.clock()
        cfg_counter = self.cfg.counter(req.counter)
        view = selection.CounterView(
            req.counter, tuple(cfg_counter.primary), tuple(cfg_counter.secondary), row["streak_kind"], row["streak_len"]
        )
        waiting = self.waiting()
        if req.number:
            target = self._ticket(req.number)
            if target["state"] != "issued":
                raise Conflict(f"ticket {req.number} is {target['state']}, not waiting")
            pick = next(w for w in waiting if w.id == target["id"])
            pool = [w for w in waiting if w.business == pick.business]
            choice = selection.Choice(
                pick, "specific", f"called by number at counter {req.counter}", selection._passed(pool, pick, now, ())
            )
        else:
            found = selection.choose(waiting, view, self.cfg.queue, now)
            if found is None:
                raise NotFound(f"nobody is waiting for counter {req.counter}")
            choice = found
        kind, run = selection.next_streak(view, choice.kind)
        self.db.execute(
            "UPDATE tickets SET state = 'called', called_at = ?, counter = ?, staff = ?, staff_display = ? WHERE id = ?",
            (now, req.counter, row["staff"], row["staff_display"], choice.ticket.id),
        )
        self._set_counter(req.counter, current_ticket=choice.ticket.id, streak_kind=kind, streak_len=run)
        self.db.execute(
            "INSERT INTO calls (ticket_id, counter, at, rule, detail, passed) VALUES (?, ?, ?, ?, ?, ?)",
            (choice.ticket.id, req.counter, now, choice.rule, choice.detail, json.dumps(choice.passed)),
        )
        out = self.view(self._ticket_by_id(choice.ticket.id))
        out.update(
            {
                "counter_name": cfg_counter.name,
                "rule": choice.rule,
                "detail": choice.detail,
                "passed": len(choice.passed),
                "waited_s": round(now - choice.ticket.queued_at),
            }
        )
        self.emit("ticket.called", out)
        return out

    def _current(self, counter_id: str, states: tuple[str, ...] = ACTIVE) -> sqlite3.Row:
        row = self._counter(counter_id)
        if not row["current_ticket"]:
            raise Conflict(f"counter {counter_id} has no current ticket")
        ticket = self._ticket_by_id(row["current_ticket"])
        if ticket["state"] not in states:
            raise Conflict(f"ticket {ticket['number']} is {ticket['state']}, not {' or '.join(states)}")
        return ticket

    def recall(self, req: s.CounterRef) -> dict[str, Any]:
        ticket = self._current(req.counter, ("called",))
        if ticket["recalls"] >= self.cfg.queue.max_recalls:
            return self._end(req.counter, ticket, "no_show", "recalls_exhausted", "ticket.no_show")
        self.db.execute("UPDATE tickets SET recalls = recalls + 1 WHERE id = ?", (ticket["id"],))
        out = self.view(self._ticket_by_id(ticket["id"]))
        out["counter_name"] = self.cfg.counter(req.counter).name
        self.emit("ticket.recalled", out)
        return out

    def serve(self, req: s.CounterRef) -> dict[str, Any]:
        ticket = self._current(req.counter, ("called",))
        self.db.execute(
            "UPDATE tickets SET state = 'serving', serving_at = ? WHERE id = ?", (self.clock(), ticket["id"])
        )
        out = self.view(self._ticket_by_id(ticket["id"]))
        self.emit("ticket.serving", out)
        return out

    def finish(self, req: s.CounterRef) -> dict[str, Any]:
        ticket = self._current(req.counter)
        return self._end(req.counter, ticket, "done", "finished", "ticket.finished")

    def noshow(self, req: s.CounterRef) -> dict[str, Any]:
        ticket = self._current(req.counter, ("called",))
        return self._end(req.counter, ticket, "no_show", "no_show", "ticket.no_show")

    def _end(self, counter_id: str, ticket: sqlite3.Row, state: str, reason: str, topic: str) -> dict[str, Any]:
        now = self.clock()
        self.db.execute(
            "UPDATE tickets SET state = ?, finished_at = ?, end_reason = ?,"
            " serving_at = CASE WHEN ? = 'done' THEN COALESCE(serving_at, called_at) ELSE serving_at END"
            " WHERE id = ?",
            (state, now, reason, state, ticket["id"]),
        )
        self._set_counter(counter_id, current_ticket=None)
        out = self.view(self._ticket_by_id(ticket["id"]))
        out["end_reason"] = reason
        if ticket["called_at"] is not None:
            out["handling_s"] = round(now - ticket["called_at"])
        self.emit(topic, out)
        return out

    def transfer(self, req: s.CounterTransfer) -> dict[str, Any]:
        if not req.business and not req.to_counter:
            raise InvalidRequest("counter.transfer needs a business, a to_counter, or both")
        ticket = self._current(req.counter)
        business = req.business or ticket["business"]
        self._business(business)
        if req.to_counter:
            self._counter(req.to_counter)
            if req.to_counter == req.counter:
                raise Conflict("a ticket cannot be transferred to the counter it is at")
        now = self.clock()
        self.db.execute(
            "UPDATE tickets SET state = 'transferred', finished_at = ?, end_reason = 'transferred' WHERE id = ?",
            (now, ticket["id"]),
        )
        self._set_counter(req.counter, current_ticket=None)
        child = uuid.uuid4().hex
        self.db.execute(
            "INSERT INTO tickets (id, day, series, seq, number, business, state, priority, queued_at, issued_at,"
            " booked_at, target_counter, parent_id, customer_kind, customer_hash, customer_masked, customer_name,"
            " appointment, tags)"
            " SELECT ?, day, series, seq, number, ?, 'issued', priority, queued_at, ?, booked_at, ?, id,"
            " customer_kind, customer_hash, customer_masked, customer_name, appointment, tags FROM tickets WHERE id = ?",
            (child, business, now, req.to_counter, ticket["id"]),
        )
        out = self.view(self._ticket_by_id(child))
        out.update({"from_counter": req.counter, "from_business": ticket["business"]})
        self.emit("ticket.transferred", out)
        return out

    # -- hall -------------------------------------------------------------
    def status(self, req: s.Empty | None = None) -> dict[str, Any]:
        """Queues per business, counters, and who is being called: the hall at a glance."""
        now = self.clock()
        waiting = self.waiting()
        businesses = []
        for b in self.cfg.businesses:
            mine = [w for w in waiting if w.business == b.code]
            businesses.append(
                {
                    "code": b.code,
                    "name": b.name,
                    "name_en": b.name_en,
                    "icon": b.icon,
                    "green_channel": b.green_channel,
                    "waiting": len(mine),
                    "longest_wait_s": round(max((now - w.queued_at for w in mine), default=0)),
                }
            )
        calling = self.db.all(
            "SELECT * FROM tickets WHERE state IN ('called', 'serving') AND day = ? ORDER BY called_at DESC LIMIT 8",
            (self.today(),),
        )
        return {
            "hall": {
                "id": self.cfg.hall.id,
                "name": self.cfg.hall.name,
                "name_en": self.cfg.hall.name_en,
                "timezone": self.cfg.hall.timezone,
            },
            "day": self.today(),
            "local_time": local_hhmm(now, self.zone),
            "businesses": businesses,
            "counters": self.counter_list(),
            "calling": [self.view(r) for r in calling],
        }

    # -- appointments and tags -------------------------------------------
    def book(self, req: s.AppointmentBook) -> dict[str, Any]:
        self._business(req.business)
        if req.booked_at.tzinfo is None:
            raise InvalidRequest("booked_at needs a time zone offset, e.g. 2026-03-02T10:00:00+08:00")
        try:
            self.db.execute(
                "INSERT INTO appointments (code, business, booked_at, customer_hash, customer_masked) VALUES (?, ?, ?, ?, ?)",
                (
                    req.code,
                    req.business,
                    req.booked_at.timestamp(),
                    req.customer.hash if req.customer else None,
                    req.customer.masked if req.customer else None,
                ),
            )
        except sqlite3.IntegrityError:
            raise Conflict(f"appointment {req.code} already exists") from None
        out = {"code": req.code, "business": req.business, "booked_at": req.booked_at.isoformat(), "state": "booked"}
        self.emit("appointment.booked", out)
        return out

    def checkin(self, req: s.AppointmentCheckin) -> dict[str, Any]:
        now = self.clock()
        if req.code:
            appt = self.db.one("SELECT * FROM appointments WHERE code = ?", (req.code,))
            if appt is None:
                raise NotFound(f"no appointment with code {req.code}")
        elif req.customer:
            hashes = (req.customer.hash, *req.customer.also)
            appt = self.db.one(
                f"SELECT * FROM appointments WHERE customer_hash IN ({', '.join('?' * len(hashes))})"
                " AND state = 'booked' ORDER BY ABS(booked_at - ?) LIMIT 1",
                (*hashes, now),
            )
            if appt is None:
                raise NotFound("no appointment is booked for this card")
        else:
            raise InvalidRequest("appointment.checkin needs a code or a customer")
        if appt["state"] != "booked":
            raise Conflict(f"appointment {appt['code']} is already {appt['state']}")
        q = self.cfg.queue
        if now < appt["booked_at"] - q.appointment_early_minutes * 60:
            opens = local_hhmm(appt["booked_at"] - q.appointment_early_minutes * 60, self.zone)
            raise Conflict(f"too early for appointment {appt['code']}: check in from {opens}")
        late = now > appt["booked_at"] + q.appointment_late_minutes * 60
        ticket = self.issue(
            s.TicketIssue(business=appt["business"], customer=req.customer, channel="appointment"),
            appointment=appt,
            late=late,
        )
        self.db.execute(
            "UPDATE appointments SET state = 'checked_in', ticket_id = ? WHERE code = ?", (ticket["id"], appt["code"])
        )
        self.emit("appointment.checked_in", {"code": appt["code"], "number": ticket["number"], "late": late})
        return ticket

    def tag(self, req: s.CustomerTag) -> dict[str, Any]:
        known = {t.name for t in self.cfg.tags}
        unknown = [t for t in req.tags if t not in known]
        if unknown:
            raise InvalidRequest(f"unknown tag {unknown[0]!r} (known: {', '.join(sorted(known)) or 'none'})")
        self.db.execute(
            "INSERT INTO customer_tags (hash, tags) VALUES (?, ?) ON CONFLICT(hash) DO UPDATE SET tags = excluded.tags",
            (req.hash, json.dumps(sorted(set(req.tags)))),
        )
        out = {"hash": req.hash, "tags": sorted(set(req.tags))}
        self.emit("customer.tagged", out)
        return out
