"""The core's seat figures, points, people in the hall, and the alerts they raise.

``register(core)`` serves ``seats.day`` (seat quality and points per staff member
and per counter, :mod:`edge.ops.seats`) and ``occupancy.get`` (people in the hall
from IR beams, cameras and the queue, :mod:`edge.ops.occupancy`). It watches
published events for per-source door counts and camera zone counts, emits each
closed day's figures as ``points.daily`` (for HQ), and adds two alert rules:

- ``ahead_of_plan``: a business's arrivals over the last slot run this many
  percent above the day's saved plan and its open counters are fewer than the
  plan's capacity table asks for them: "open one more counter for B";
- ``occupancy_disagreement``: a source of the people count lies this many
  standard errors from the others (a blocked beam, a moved camera).
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge import config, envelope
from edge.core.alerts import Condition
from edge.ops import occupancy as occ
from edge.ops.config import OpsConfig
from edge.ops.seats import Mood, Pause, seat_table
from edge.queue.clock import business_day
from edge.schemas import ops as s
from edge.storage.db import UndoFailed

if TYPE_CHECKING:
    from edge.core.service import Core

log = logging.getLogger("hall.core")
MIN_EXCESS = 2  # arrivals above plan needed before an alert, whatever the percentage


def register(core: Core) -> None:
    area = SeatsArea(core)
    core.route("seats.day", area.seats_day, s)
    core.route("occupancy.get", area.occupancy_get, s)
    core.publish_observers.append(area.observe_safely)
    core.tick_hooks.append(area.report_closed_day)
    core.alert_sources.append(area.conditions)


class SeatsArea:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db

    @property
    def ops(self) -> OpsConfig:
        return config.service_config(self.core.cfg, "ops", OpsConfig)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.core.cfg.hall.timezone)

    def today(self) -> str:
        return business_day(self.core.clock(), self.zone, self.core.cfg.hall.rollover_time)

    def _bounds(self, day: str) -> tuple[float, float]:
        start = datetime.combine(date.fromisoformat(day), self.core.cfg.hall.rollover_time, self.zone)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    # -- seats ------------------------------------------------------------------
    def _pauses(self, day: str, now: float) -> list[Pause]:
        start, end = self._bounds(day)
        rows = self.db.all(
            "SELECT ts, topic, data FROM events WHERE topic IN ('counter.paused', 'counter.resumed', 'counter.closed')"
            " AND ts >= ? AND ts < ? ORDER BY seq",
            (envelope.iso(start) or "", envelope.iso(end) or ""),
        )
        open_: dict[str, tuple[float, str | None]] = {}
        out: list[Pause] = []
        for r in rows:
            d = json.loads(r["data"])
            at = datetime.fromisoformat(r["ts"]).timestamp()
            cid = str(d.get("id"))
            if r["topic"] == "counter.paused":
                open_[cid] = (at, d.get("staff"))
            elif cid in open_:
                began, staff = open_.pop(cid)
                out.append(Pause(cid, staff, began, at))
        out += [Pause(cid, staff, began, min(now, end)) for cid, (began, staff) in open_.items()]
        return out

    def figures(self, day: str) -> dict[str, Any]:
        now = self.core.clock()
        tickets = [dict(r) for r in self.db.all("SELECT * FROM tickets WHERE day = ?", (day,))]
        evals = [
            {"score": r["score"], "reasons": json.loads(r["reasons"]), "counter": r["counter"], "staff": r["staff"]}
            for r in self.db.all(
                "SELECT e.* FROM evaluations e JOIN tickets t ON t.id = e.ticket_id WHERE t.day = ?", (day,)
            )
        ]
        source = "queue"
        if not tickets:  # a day the queue did not record: the imported history, without pauses or reasons
            source = "history"
            done = "import_id IN (SELECT import_id FROM history_imports WHERE state = 'done')"
            for r in self.db.all(f"SELECT * FROM history WHERE day = ? AND {done}", (day,)):
                state = "done" if r["finished_at"] else ("no_show" if r["called_at"] else "cancelled")
                tickets.append({**dict(r), "state": state, "queued_at": r["issued_at"], "parent_id": None})
                if r["rating"]:
                    evals.append({"score": r["rating"], "reasons": [], "counter": r["counter"], "staff": r["staff"]})
        serves = {c.id: {*c.primary, *c.secondary} for c in self.core.cfg.counters}
        moods = self._moods(day, tickets, now)
        table = seat_table(tickets, evals, self._pauses(day, now), serves, self.ops.points, now=now, moods=moods)
        names = {c.id: c.name for c in self.core.cfg.counters}
        for row in table["counters"]:
            row["name"] = names.get(row["counter"], row["counter"])
        # Rows are per account (what the counter credits); each is shown by its display name, with the
        # account beside it when two people share one.
        shown = {t["staff"]: t.get("staff_display") or t["staff"] for t in tickets if t.get("staff")}
        for row in table["staff"]:
            name = shown.get(row["staff"], row["staff"])
            twins = sum(1 for r in table["staff"] if shown.get(r["staff"], r["staff"]) == name)
            row["name"] = name if twins == 1 else f"{name} ({row['staff']})"
        return {"day": day, "source": source, "rules": [r.model_dump() for r in self.ops.points], **table}

    def _moods(self, day: str, tickets: list[dict[str, Any]], now: float) -> list[Mood]:
        """The vision service's expression shares at each counter, with who was serving there then."""
        start, end = self._bounds(day)
        rows = self.db.all(
            "SELECT ts, data FROM events WHERE topic = 'emotion.window' AND ts >= ? AND ts < ?",
            (envelope.iso(start) or "", envelope.iso(end) or ""),
        )
        out = []
        for r in rows:
            d = json.loads(r["data"])
            people, negative = d.get("people"), d.get("negative")
            if not d.get("counter") or not isinstance(people, int) or not isinstance(negative, int | float):
                continue
            at = datetime.fromisoformat(r["ts"]).timestamp()
            counter = str(d["counter"])
            staff = next(
                (
                    t.get("staff")
                    for t in tickets
                    if t.get("counter") == counter
                    and t.get("called_at") is not None
                    and t["called_at"] <= at <= (t.get("finished_at") or now)
                ),
                None,
            )
            out.append(Mood(counter, staff, people, float(negative)))
        return out

    def seats_day(self, req: s.SeatsDay, env: envelope.Envelope) -> dict[str, Any]:
        out = self.figures(req.day or self.today())
        if req.staff is not None:
            out["staff"] = [r for r in out["staff"] if r["staff"] == req.staff]
            out["counters"] = []
        return out

    def report_closed_day(self) -> None:
        """Once a business day has closed, its figures and points go in the log (and so to HQ)."""
        today = self.today()
        last = self.db.get_meta("seats.reported")
        row = self.db.one("SELECT MAX(day) FROM tickets WHERE day < ?", (today,))
        day = row[0] if row else None
        if day is None or (last is not None and day <= last):
            return
        self.core.emit("points.daily", self.figures(day))
        self.db.set_meta("seats.reported", day)

    # -- occupancy --------------------------------------------------------------
    def observe_safely(self, event: envelope.Envelope) -> None:
        try:
            with self.db.savepoint("seats"):
                self.observe(event)
        except UndoFailed:
            raise  # the transaction itself is lost: the caller must undo it all
        except Exception:  # a fault here must not refuse another service's event
            log.exception("seats: watching %s failed; skipped", event["topic"])

    def observe(self, event: envelope.Envelope) -> None:
        topic, data = event["topic"], event["data"]
        now = self.core.clock()
        if topic == "door.crossed" and data.get("direction") in ("in", "out"):
            kind = str(data.get("source") or "").split(":", 1)[0] or "other"
            key = f"{self.today()}|{kind}"
            row = self.db.one("SELECT data FROM facts WHERE kind = 'door_source' AND key = ?", (key,))
            counts = json.loads(row[0]) if row else {"in": 0, "out": 0}
            counts[data["direction"]] += 1
            self._put("door_source", key, counts, event["source"], now)
        elif topic == "zone.occupancy" and isinstance(data.get("people"), int | float):
            zone = str(data.get("zone") or "hall")[:32]
            self._put("zone", zone, {"people": float(data["people"])}, event["source"], now)

    def _put(self, kind: str, key: str, data: dict[str, Any], source: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO facts (kind, key, data, source, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, key)"
            " DO UPDATE SET data = excluded.data, source = excluded.source, at = excluded.at",
            (kind, key, json.dumps(data), source, now),
        )

    def estimate(self) -> occ.Estimate | None:
        o = self.ops.occupancy
        now = self.core.clock()
        sources: list[occ.Source] = []
        for kind in ("ir", "camera", "other"):  # one door count: the beams where there are, else a camera's line
            row = self.db.one(
                "SELECT data FROM facts WHERE kind = 'door_source' AND key = ?", (f"{self.today()}|{kind}",)
            )
            if row is not None:
                d = json.loads(row[0])
                src = occ.beams(d["in"], d["out"], o.beam_miss_rate)
                sources.append(src if kind == "ir" else occ.Source("door", src.people, src.sigma))
                break
        zones = [
            json.loads(r[0])["people"]
            for r in self.db.all("SELECT data FROM facts WHERE kind = 'zone' AND at >= ?", (now - o.fresh_s,))
        ]
        if zones:
            sources.append(occ.cameras(sum(zones), o.camera_coverage, o.camera_error))
        row = self.db.one(
            "SELECT COUNT(*) FROM tickets WHERE state IN ('issued', 'called', 'serving') AND day = ?", (self.today(),)
        )
        sources.append(occ.queue(int(row[0]) if row else 0, o.people_per_ticket, o.queue_error))
        return occ.reconcile(sources)

    def occupancy_get(self, req: s.Occupancy, env: envelope.Envelope) -> dict[str, Any] | None:
        est = self.estimate()
        return est.as_dict() if est is not None else None

    # -- alerts -----------------------------------------------------------------
    def conditions(self, rules: Any, now: float) -> list[Condition]:
        out: list[Condition] = []
        if rules.occupancy_disagreement.enabled:
            out += self._disagreement(rules.occupancy_disagreement.threshold)
        if rules.ahead_of_plan.enabled:
            out += self._ahead(rules.ahead_of_plan.threshold, now)
        return out

    def _disagreement(self, threshold: float) -> list[Condition]:
        est = self.estimate()
        if est is None or est.worst is None or len(est.sources) < 2:
            return []
        z = est.residuals[est.worst]
        people = {src.name: src.people for src in est.sources}
        others = [v for k, v in people.items() if k != est.worst]
        if z <= threshold or abs(people[est.worst] - sum(others) / len(others)) < 5:
            return []
        words = {"ir": "红外对射", "door": "门口计数", "camera": "摄像头", "queue": "排队"}
        hint = {
            "ir": "（对射被遮挡？）",
            "door": "（计数线被遮挡？）",
            "camera": "（镜头移动或遮挡？）",
            "queue": "（未取号人数多？）",
        }
        said = "，".join(f"{words.get(k, k)} {v:.0f}" for k, v in people.items())
        msg = f"大厅人数来源不一致：{said}；偏离最大的是{words.get(est.worst, est.worst)}{hint.get(est.worst, '')}"
        data = {"sources": people, "worst": est.worst, "z": round(z, 2), "estimate": round(est.people, 1)}
        return [Condition("occupancy_disagreement", "occupancy_disagreement", msg, data)]

    def _ahead(self, percent: float, now: float) -> list[Condition]:
        row = self.db.one("SELECT data FROM plans WHERE kind = 'day' AND key = ?", (self.today(),))
        if row is None:
            return []
        plan = json.loads(row[0])
        slot_s = float(plan.get("slot_minutes", 30)) * 60
        window = (now - slot_s, now)
        planned: dict[str, float] = {}
        for r in plan.get("rows", []):
            begin = datetime.fromisoformat(r["start"]).timestamp()
            overlap = max(0.0, min(window[1], begin + slot_s) - max(window[0], begin)) / slot_s
            for b, v in r.get("businesses", {}).items():
                planned[b] = planned.get(b, 0.0) + overlap * float(v.get("arrivals", 0))
        counters = {r["id"]: r["state"] for r in self.db.all("SELECT id, state FROM counters")}
        names = {b.code: b.name for b in self.core.cfg.businesses}
        out = []
        for b, capacity in plan.get("capacity", {}).items():
            actual = self._arrivals(b, window)
            want = planned.get(b, 0.0)
            if actual < want * (1 + percent / 100) or actual - want < MIN_EXCESS:
                continue
            needed = next((k + 1 for k, cap in enumerate(capacity) if cap >= actual), len(capacity) + 1)
            open_n = sum(
                1 for c in self.core.cfg.counters if b in (*c.primary, *c.secondary) and counters.get(c.id) == "open"
            )
            if open_n >= needed:
                continue
            more = needed - open_n
            name = names.get(b, b)
            msg = (
                f"{b} {name} 近 {slot_s / 60:.0f} 分钟到达 {actual} 人，计划 {want:.0f} 人；"
                f"开放 {open_n} 个窗口，建议再开 {more} 个 (open {'one more counter' if more == 1 else f'{more} more counters'} for {b})"
            )
            data = {"business": b, "actual": actual, "planned": round(want, 1), "open": open_n, "needed": needed}
            out.append(Condition(f"ahead_of_plan:{b}", "ahead_of_plan", msg, data))
        return out

    def _arrivals(self, business: str, window: tuple[float, float]) -> int:
        row = self.db.one(
            "SELECT COUNT(*) FROM tickets WHERE business = ? AND parent_id IS NULL AND issued_at >= ? AND issued_at < ?",
            (business, *window),
        )
        return int(row[0]) if row else 0
