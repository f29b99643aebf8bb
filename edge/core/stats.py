"""``stats.day``: a business day's aggregates, computed from the hall database.

Queues and tickets per business, volume per local hour (and the same weekday
a week before), wait times, handling time per counter and per staff member
(who had the counter open when the ticket was called, from the
``counter.opened``/``counter.closed`` events), evaluations, no-shows, door
arrivals and the alerts raised, and per counter and hour the anonymous share
of negative expressions among the faces seen at that counter (the cameras'
``emotion.window`` reports for zones that name a counter) beside the ratings
its customers gave. The staff panel's dashboard and ``hall report day`` both
read it; it changes nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from statistics import mean
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge import envelope
from edge.schemas import stats as schema

if TYPE_CHECKING:
    from edge.core.service import Core

Staff = tuple[str, str]  # the account credited, and the name it is shown by


def register(core: Core) -> None:
    stats = Stats(core)
    core.route("stats.day", stats.day, schema)


def _avg(values: list[float]) -> float | None:
    return round(mean(values), 1) if values else None


class Stats:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db
        self.zone = ZoneInfo(core.cfg.hall.timezone)

    def _hour(self, ts: float) -> int:
        return datetime.fromtimestamp(ts, self.zone).hour

    def _bounds(self, day: str) -> tuple[float, float]:
        start = datetime.combine(datetime.fromisoformat(day).date(), self.core.cfg.hall.rollover_time, self.zone)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    def _issued_by_hour(self, day: str) -> list[int]:
        hours = [0] * 24
        for r in self.db.all("SELECT issued_at FROM tickets WHERE day = ? AND parent_id IS NULL", (day,)):
            hours[self._hour(r[0])] += 1
        return hours

    def _door(self, day: str) -> dict[str, Any]:
        row = self.db.one("SELECT data FROM facts WHERE kind = 'door' AND key = ?", (day,))
        if row is None:
            return {"in": 0, "out": 0, "hours_in": [0] * 24, "measured": False}
        return {**json.loads(row[0]), "measured": True}

    def _staff_timeline(self, start: float, end: float) -> dict[str, list[tuple[float, Staff | None]]]:
        """Per counter, (time, (account, display name) or None when closed) from the open/close events."""
        lo = envelope.iso(start - 86400) or ""
        hi = envelope.iso(end) or ""
        rows = self.db.all(
            "SELECT ts, topic, data FROM events WHERE topic IN ('counter.opened', 'counter.closed')"
            " AND ts >= ? AND ts < ? ORDER BY seq",
            (lo, hi),
        )
        out: dict[str, list[tuple[float, Staff | None]]] = defaultdict(list)
        for r in rows:
            d = json.loads(r["data"])
            at = datetime.fromisoformat(r["ts"]).timestamp()
            who = (d["staff"], d.get("staff_display") or d["staff"]) if d.get("staff") else None
            out[str(d.get("id"))].append((at, who if r["topic"] == "counter.opened" else None))
        return out

    @staticmethod
    def _staff_at(timeline: list[tuple[float, Staff | None]], at: float) -> Staff | None:
        staff = None
        for t, who in timeline:
            if t > at:
                break
            staff = who
        return staff

    def _mood(self, start: float, end: float) -> list[dict[str, Any]]:
        """Per counter and local hour: faces seen, their negative-expression share (weighted by the people
        in each report) and the ratings given there; hours with neither are left out."""
        lo, hi = envelope.iso(start) or "", envelope.iso(end) or ""
        cells: dict[tuple[str, int], dict[str, Any]] = {}

        def cell(counter: str, hour: int) -> dict[str, Any]:
            return cells.setdefault(
                (counter, hour), {"counter": counter, "hour": hour, "faces": 0, "_neg": 0.0, "_r": []}
            )

        rows = self.db.all(
            "SELECT ts, data FROM events WHERE topic = 'emotion.window' AND ts >= ? AND ts < ?", (lo, hi)
        )
        for r in rows:
            d = json.loads(r["data"])
            people, negative = d.get("people"), d.get("negative")
            if not d.get("counter") or not isinstance(people, int) or not isinstance(negative, int | float):
                continue
            c = cell(str(d["counter"]), self._hour(datetime.fromisoformat(r["ts"]).timestamp()))
            c["faces"] += people
            c["_neg"] += float(negative) * people
        for e in self.db.all("SELECT score, at, counter FROM evaluations WHERE at >= ? AND at < ?", (start, end)):
            if e["counter"]:
                cell(str(e["counter"]), self._hour(e["at"]))["_r"].append(e["score"])
        out = []
        for key in sorted(cells):
            c = cells[key]
            neg, ratings = c.pop("_neg"), c.pop("_r")
            c["negative_share"] = round(neg / c["faces"], 3) if c["faces"] else None
            c["ratings"] = len(ratings)
            c["rating_avg"] = _avg(ratings)
            out.append(c)
        return out

    def day(self, req: schema.StatsDay, env: envelope.Envelope) -> dict[str, Any]:
        cfg = self.core.cfg
        day = req.day or self.core.queue.today()
        start, end = self._bounds(day)
        now = self.core.clock()
        rows = self.db.all("SELECT * FROM tickets WHERE day = ? ORDER BY issued_at", (day,))
        timeline = self._staff_timeline(start, end)
        waits: list[float] = []
        by_business: dict[str, dict[str, Any]] = {
            b.code: {
                "code": b.code,
                "name": b.name,
                "issued": 0,
                "waiting": 0,
                "done": 0,
                "no_show": 0,
                "cancelled": 0,
                "longest_wait_s": 0,
                "_waits": [],
                "_handling": [],
            }
            for b in cfg.businesses
        }
        hours: dict[str, list[int]] = {b.code: [0] * 24 for b in cfg.businesses}
        counters: dict[str, dict[str, Any]] = {
            c.id: {"id": c.id, "name": c.name, "served": 0, "no_show": 0, "_handling": []} for c in cfg.counters
        }
        staff: dict[str, dict[str, Any]] = {}
        for r in rows:
            b = by_business.get(r["business"])
            if b is None:
                continue
            if r["parent_id"] is None:
                b["issued"] += 1
                hours[r["business"]][self._hour(r["issued_at"])] += 1
            if r["state"] == "issued":
                b["waiting"] += 1
                b["longest_wait_s"] = max(b["longest_wait_s"], round(now - r["queued_at"]))
            if r["called_at"] is not None:
                wait = r["called_at"] - r["queued_at"]
                waits.append(wait)
                b["_waits"].append(wait)
            c = counters.get(r["counter"] or "")
            if r["state"] == "done" and r["called_at"] is not None:
                handling = (r["finished_at"] or now) - r["called_at"]
                b["done"] += 1
                b["_handling"].append(handling)
                if c is not None:
                    c["served"] += 1
                    c["_handling"].append(handling)
                account, display = (
                    (r["staff"], r["staff_display"] or r["staff"])
                    if r["staff"]
                    else self._staff_at(timeline.get(r["counter"], []), r["called_at"]) or ("—", "—")
                )
                s = staff.setdefault(account, {"staff": account, "display": display, "served": 0, "_handling": []})
                s["served"] += 1
                s["_handling"].append(handling)
            elif r["state"] == "no_show":
                b["no_show"] += 1
                if c is not None:
                    c["no_show"] += 1
            elif r["state"] == "cancelled":
                b["cancelled"] += 1
        for group in (*by_business.values(), *counters.values(), *staff.values()):
            group["avg_handling_s"] = _avg(group.pop("_handling"))
        for b in by_business.values():
            b["avg_wait_s"] = _avg(b.pop("_waits"))
        evals = self.db.all(
            "SELECT e.score, e.counter, e.staff FROM evaluations e JOIN tickets t ON t.id = e.ticket_id WHERE t.day = ?",
            (day,),
        )
        histogram = [sum(1 for e in evals if e["score"] == n) for n in range(1, 6)]
        last_week = (datetime.fromisoformat(day) - timedelta(days=7)).date().isoformat()
        alerts = self.db.all(
            "SELECT rule, COUNT(*) FROM alerts WHERE raised_at >= ? AND raised_at < ? GROUP BY rule", (start, end)
        )
        out: dict[str, Any] = {
            "day": day,
            "hall": {"id": cfg.hall.id, "name": cfg.hall.name},
            "businesses": list(by_business.values()),
            "volume_by_hour": hours,
            "issued_by_hour": self._issued_by_hour(day),
            "issued_by_hour_last_week": self._issued_by_hour(last_week),
            "last_week_day": last_week,
            "door": self._door(day),
            "door_last_week": self._door(last_week),
            "counters": list(counters.values()),
            "staff": sorted(staff.values(), key=lambda s: str(s["staff"])),
            "evaluations": {
                "count": len(evals),
                "average": _avg([e["score"] for e in evals]),
                "histogram": histogram,
                "low": sum(1 for e in evals if e["score"] <= 2),
            },
            "no_shows": sum(b["no_show"] for b in by_business.values()),
            "waits": {
                "count": len(waits),
                "average_s": _avg(waits),
                "max_s": round(max(waits)) if waits else None,
            },
            "alerts": {r[0]: r[1] for r in alerts},
            "counter_mood": self._mood(start, end),
        }
        if req.waits:
            out["waits"]["values_s"] = [round(w) for w in waits]
        return out
