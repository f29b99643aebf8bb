"""Alert rules, the alerts they raise, and the facts other services publish.

``register(core)`` serves ``alert.rules.get``/``alert.rules.set``,
``alert.list``, ``alert.acknowledge`` and ``hall.facts``; it watches every
``event.publish`` (a publish observer) to keep the latest device health, seat
presence, emotion shares, heatmap, sync status and door counts in ``facts``;
and it evaluates the rules on every tick and whenever a watched fact arrives.

A condition alert (``longest_wait:A``, ``device_offline:printer``…) is raised
once while its condition holds and cleared when it ends; acknowledging it
records who saw it. A low rating is one-shot: acknowledging it also clears it.
Every change is an event in the log (``alert.raised``, ``alert.cleared``,
``alert.acknowledged``, ``alert.rules_changed``) and so reaches the bus and HQ.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from edge import envelope
from edge.errors import Conflict, NotFound
from edge.queue.clock import business_day
from edge.schemas import alerts as schema
from edge.storage.db import UndoFailed

if TYPE_CHECKING:
    from edge.core.service import Core

log = logging.getLogger("hall.core")
EMOTION_FRESH_S = 15 * 60
ONE_SHOT = ("low_rating",)


@dataclass(frozen=True)
class Condition:
    key: str
    rule: str
    message: str
    data: dict[str, Any]


def register(core: Core) -> None:
    alerts = Alerts(core)
    core.route("alert.rules.get", alerts.rules_get, schema)
    core.route("alert.rules.set", alerts.rules_set, schema)
    core.route("alert.list", alerts.list_alerts, schema)
    core.route("alert.acknowledge", alerts.acknowledge, schema)
    core.route("hall.facts", alerts.facts, schema)
    core.tick_hooks.append(alerts.tick)
    core.publish_observers.append(alerts.observe_safely)


class Alerts:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.db = core.db
        self.zone = ZoneInfo(core.cfg.hall.timezone)

    # -- rules ------------------------------------------------------------
    def rules(self) -> schema.Rules:
        stored = {r["name"]: r for r in self.db.all("SELECT * FROM alert_rules")}
        defaults = schema.Rules().model_dump()
        for name, row in stored.items():
            if name in defaults:
                defaults[name] = {"enabled": bool(row["enabled"]), "threshold": row["threshold"]}
        return schema.Rules.model_validate(defaults)

    def rules_get(self, req: schema.RulesGet, env: envelope.Envelope) -> dict[str, Any]:
        return self._rules_reply(self.rules())

    def _rules_reply(self, rules: schema.Rules) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, field in schema.Rules.model_fields.items():
            rule: schema.Rule = getattr(rules, name)
            out[name] = {"enabled": rule.enabled, "threshold": rule.threshold, "title": field.title}
            out[name]["description"] = field.description
        return out

    def rules_set(self, req: schema.RulesSet, env: envelope.Envelope) -> dict[str, Any]:
        for name in schema.Rules.model_fields:
            rule: schema.Rule = getattr(req.rules, name)
            if rule.threshold < 0:
                raise Conflict(f"rule {name}: threshold must not be negative")
        if req.rules.negative_emotion.threshold > 1:
            raise Conflict("rule negative_emotion: threshold is a share between 0 and 1")
        before = self.rules().model_dump()
        now = self.core.clock()
        for name in schema.Rules.model_fields:
            rule = getattr(req.rules, name)
            self.db.execute(
                "INSERT INTO alert_rules (name, enabled, threshold, changed_at, changed_by) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled, threshold = excluded.threshold,"
                " changed_at = excluded.changed_at, changed_by = excluded.changed_by",
                (name, int(rule.enabled), rule.threshold, now, req.by),
            )
        after = req.rules.model_dump()
        changed = {k: after[k] for k in after if after[k] != before.get(k)}
        self.core.emit("alert.rules_changed", {"by": req.by, "changed": changed})
        self.evaluate()
        return self._rules_reply(req.rules)

    # -- alerts -----------------------------------------------------------
    def list_alerts(self, req: schema.AlertList, env: envelope.Envelope) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM alerts WHERE 1", []
        if req.state == "active":
            sql += " AND cleared_at IS NULL"
        if req.day:
            start, end = self._day_bounds(req.day)
            sql += " AND raised_at >= ? AND raised_at < ?"
            params += [start, end]
        rows = self.db.all(sql + " ORDER BY id DESC LIMIT ?", [*params, req.limit])
        return [self._view(r) for r in rows]

    def _day_bounds(self, day: str) -> tuple[float, float]:
        rollover = self.core.cfg.hall.rollover_time
        start = datetime.combine(datetime.fromisoformat(day).date(), rollover, self.zone)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()

    @staticmethod
    def _view(row: Any) -> dict[str, Any]:
        return {
            "id": row["id"],
            "key": row["key"],
            "rule": row["rule"],
            "message": row["message"],
            "data": json.loads(row["data"]),
            "raised_at": envelope.iso(row["raised_at"]),
            "acknowledged_at": envelope.iso(row["acknowledged_at"]),
            "acknowledged_by": row["acknowledged_by"],
            "cleared_at": envelope.iso(row["cleared_at"]),
            "active": row["cleared_at"] is None,
        }

    def _alert(self, alert_id: int) -> Any:
        row = self.db.one("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        return row

    def acknowledge(self, req: schema.AlertAcknowledge, env: envelope.Envelope) -> dict[str, Any]:
        row = self._alert(req.id)
        if row["acknowledged_at"] is not None:
            raise Conflict(f"alert {req.id} was already acknowledged by {row['acknowledged_by']}")
        now = self.core.clock()
        self.db.execute(
            "UPDATE alerts SET acknowledged_at = ?, acknowledged_by = ? WHERE id = ?", (now, req.by, req.id)
        )
        self.core.emit(
            "alert.acknowledged", {"id": req.id, "key": row["key"], "rule": row["rule"], "by": req.by, "note": req.note}
        )
        if row["rule"] in ONE_SHOT and row["cleared_at"] is None:
            self._clear(self._alert(req.id), now)
        return self._view(self._alert(req.id))

    def _raise(self, cond: Condition, now: float) -> None:
        cur = self.db.execute(
            "INSERT INTO alerts (key, rule, message, data, raised_at) VALUES (?, ?, ?, ?, ?)",
            (cond.key, cond.rule, cond.message, json.dumps(cond.data, ensure_ascii=False), now),
        )
        self.core.emit("alert.raised", self._view(self._alert(int(cur.lastrowid or 0))))

    def _clear(self, row: Any, now: float) -> None:
        self.db.execute("UPDATE alerts SET cleared_at = ? WHERE id = ?", (now, row["id"]))
        self.core.emit("alert.cleared", self._view(self._alert(row["id"])))

    def evaluate(self) -> None:
        """Raise alerts for conditions that now hold, clear those that ended (runs in the core's transaction)."""
        now = self.core.clock()
        rules = self.rules()
        holding = {c.key: c for c in self.conditions(rules, now)}
        active = {r["key"]: r for r in self.db.all("SELECT * FROM alerts WHERE cleared_at IS NULL")}
        for key, cond in holding.items():
            if key not in active:
                self._raise(cond, now)
        for key, row in active.items():
            if row["rule"] not in ONE_SHOT and key not in holding:
                self._clear(row, now)
        self._ratings(rules, now)

    def conditions(self, rules: schema.Rules, now: float) -> list[Condition]:
        """Every condition alert that holds now under ``rules``."""
        cfg = self.core.cfg
        out: list[Condition] = []
        waiting = self.core.queue.waiting()
        counters = {r["id"]: r for r in self.db.all("SELECT * FROM counters")}
        if rules.longest_wait.enabled:
            for b in cfg.businesses:
                waits = [now - w.queued_at for w in waiting if w.business == b.code]
                longest = max(waits, default=0.0) / 60
                if longest > rules.longest_wait.threshold:
                    msg = f"{b.name} 最长等待 {longest:.0f} 分钟，超过 {rules.longest_wait.threshold:g} 分钟"
                    data = {"business": b.code, "minutes": round(longest, 1), "threshold": rules.longest_wait.threshold}
                    out.append(Condition(f"longest_wait:{b.code}", "longest_wait", msg, data))
        if rules.waiting_per_counter.enabled and waiting:
            open_n = sum(1 for r in counters.values() if r["state"] == "open")
            ratio = len(waiting) / max(1, open_n)
            if ratio > rules.waiting_per_counter.threshold:
                msg = f"等候 {len(waiting)} 人，开放窗口 {open_n} 个，人均 {ratio:.1f}"
                data = {"waiting": len(waiting), "open": open_n, "ratio": round(ratio, 2)}
                out.append(Condition("waiting_per_counter", "waiting_per_counter", msg, data))
        if rules.unattended.enabled:
            out += self._unattended(rules.unattended.threshold, waiting, counters, now)
        for fact in self._facts("device"):
            d, name = fact["data"], fact["key"]
            state, paper_out = d.get("state"), _paper_out(d)
            # paper out has its own rule; any other fault, or no answer at all, is this one
            if rules.device_offline.enabled and (state == "offline" or (state == "fault" and not paper_out)):
                reason = str(d.get("reason") or d.get("detail") or "")
                word = "离线" if state == "offline" else "故障"
                out.append(
                    Condition(
                        f"device_offline:{name}",
                        "device_offline",
                        f"设备 {name} {word} {reason}".strip(),
                        {"device": name, "state": state},
                    )
                )
            if rules.printer_paper.enabled and paper_out:
                out.append(Condition(f"printer_paper:{name}", "printer_paper", f"打印机 {name} 缺纸", {"device": name}))
        if rules.negative_emotion.enabled:
            for fact in self._facts("emotion"):
                share = _negative_share(fact["data"])
                if share is None or now - fact["at"] > EMOTION_FRESH_S:
                    continue
                if share > rules.negative_emotion.threshold:
                    zone = fact["key"]
                    msg = f"{zone} 负面情绪占比 {share:.0%}，超过 {rules.negative_emotion.threshold:.0%}"
                    data = {"zone": zone, "share": round(share, 3), "threshold": rules.negative_emotion.threshold}
                    out.append(Condition(f"negative_emotion:{zone}", "negative_emotion", msg, data))
        for source in self.core.alert_sources:
            out += source(rules, now)
        return out

    def _unattended(self, minutes: float, waiting: list[Any], counters: dict[str, Any], now: float) -> list[Condition]:
        out = []
        seats = {f["key"]: f for f in self._facts("seat")}
        for c in self.core.cfg.counters:
            row, seat = counters.get(c.id), seats.get(c.id)
            if row is None or row["state"] != "open" or seat is None or seat["data"].get("present", True):
                continue
            serves = {*c.primary, *c.secondary}
            queue = [
                w for w in waiting if w.target_counter == c.id or (w.target_counter is None and w.business in serves)
            ]
            empty_for = now - float(seat["data"].get("since", seat["at"]))
            if queue and empty_for >= minutes * 60:
                msg = f"{c.name} 座位无人 {empty_for / 60:.0f} 分钟，仍有 {len(queue)} 人等候"
                data = {"counter": c.id, "waiting": len(queue), "empty_minutes": round(empty_for / 60, 1)}
                out.append(Condition(f"unattended:{c.id}", "unattended", msg, data))
        return out

    def _ratings(self, rules: schema.Rules, now: float) -> None:
        cursor = float(self.db.get_meta("alerts.rating_cursor", "0") or 0)
        rows = self.db.all(
            "SELECT e.*, t.number, t.day FROM evaluations e JOIN tickets t ON t.id = e.ticket_id"
            " WHERE e.at > ? ORDER BY e.at",
            (cursor,),
        )
        if not rows:
            return
        for r in rows:
            if rules.low_rating.enabled and r["score"] <= rules.low_rating.threshold:
                reasons = "、".join(json.loads(r["reasons"]))
                msg = f"{r['number']} 在 {r['counter'] or '?'} 号窗口评价 {r['score']} 星 {reasons}".strip()
                data = {"number": r["number"], "score": r["score"], "counter": r["counter"], "staff": r["staff"]}
                key = f"low_rating:{r['day']}:{r['number']}"
                if self.db.one("SELECT 1 FROM alerts WHERE key = ?", (key,)) is None:
                    self._raise(Condition(key, "low_rating", msg, data), now)
        self.db.set_meta("alerts.rating_cursor", repr(rows[-1]["at"]))

    # -- hooks --------------------------------------------------------------
    def tick(self) -> None:
        """The tick hook: evaluate; a fault here is logged and undone, never stops the core's other work."""
        self._guarded("evaluating alert rules", self.evaluate)

    def observe_safely(self, event: envelope.Envelope) -> None:
        """The publish observer: a fault here must not refuse another service's event."""
        self._guarded(f"watching {event['topic']}", lambda: self.observe(event))

    def _guarded(self, what: str, fn: Callable[[], None]) -> None:
        mark = self.core.outbox.mark()
        try:
            with self.db.savepoint("alerts"):
                fn()
        except UndoFailed:
            raise  # the transaction itself is lost: the caller must undo it all
        except Exception:
            self.core.outbox.discard(mark)  # their rows were rolled back with the savepoint
            log.exception("alerts: %s failed; skipped", what)

    # -- facts ------------------------------------------------------------
    def _facts(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.all("SELECT * FROM facts WHERE kind = ? ORDER BY key", (kind,))
        return [{"key": r["key"], "data": json.loads(r["data"]), "source": r["source"], "at": r["at"]} for r in rows]

    def _put_fact(self, kind: str, key: str, data: dict[str, Any], source: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO facts (kind, key, data, source, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(kind, key)"
            " DO UPDATE SET data = excluded.data, source = excluded.source, at = excluded.at",
            (kind, key, json.dumps(data, ensure_ascii=False), source, now),
        )

    def observe(self, event: envelope.Envelope) -> None:
        """Keep the latest fact of a published event; re-evaluate the rules it can change."""
        topic, data, source = event["topic"], dict(event["data"]), event["source"]
        now = self.core.clock()
        if topic == "device.health":
            key = str(data.get("device") or data.get("name") or source)[:64]
            self._put_fact("device", key, data, source, now)
        elif topic == "seat.presence" and "counter" in data:
            key = str(data["counter"])[:16]
            prev = next((f for f in self._facts("seat") if f["key"] == key), None)
            present = bool(data.get("present"))
            same = prev is not None and bool(prev["data"].get("present")) == present
            data["present"] = present
            data["since"] = prev["data"].get("since", prev["at"]) if same and prev else now
            self._put_fact("seat", key, data, source, now)
        elif topic.startswith("emotion."):
            self._put_fact("emotion", str(data.get("zone") or "hall")[:32], data, source, now)
        elif topic.startswith("heatmap."):
            self._put_fact("heatmap", "latest", data, source, now)
        elif topic == "sync.status":
            self._put_fact("sync", "status", data, source, now)
        elif topic == "door.crossed":
            self._count_door(data, source, now)
            return
        else:
            return
        self.evaluate()

    def _count_door(self, data: dict[str, Any], source: str, now: float) -> None:
        direction = data.get("direction")
        if direction not in ("in", "out"):
            return
        day = business_day(now, self.zone, self.core.cfg.hall.rollover_time)
        row = self.db.one("SELECT data FROM facts WHERE kind = 'door' AND key = ?", (day,))
        counts: dict[str, Any] = json.loads(row[0]) if row else {"in": 0, "out": 0, "hours_in": [0] * 24}
        # one counter per hall: where IR beams count the door, a camera on the same door would count
        # everyone twice, so camera crossings count only until the first IR crossing of the day
        kind = str(data.get("source") or "").split(":", 1)[0] or "other"
        if kind != "ir" and counts.get("counted_by") == "ir":
            return
        counts["counted_by"] = "ir" if kind == "ir" else counts.get("counted_by", kind)
        counts[direction] += 1
        if direction == "in":
            counts["hours_in"][datetime.fromtimestamp(now, self.zone).hour] += 1
        self._put_fact("door", day, counts, source, now)

    def door(self, day: str) -> dict[str, Any]:
        """In/out counts and arrivals per hour on ``day`` (zeros when no door data)."""
        row = self.db.one("SELECT data FROM facts WHERE kind = 'door' AND key = ?", (day,))
        if row is None:
            return {"in": 0, "out": 0, "hours_in": [0] * 24, "measured": False}
        return {**json.loads(row[0]), "measured": True}

    def facts(self, req: schema.FactsGet, env: envelope.Envelope) -> dict[str, Any]:
        now = self.core.clock()
        today = business_day(now, self.zone, self.core.cfg.hall.rollover_time)
        last_week = (datetime.fromisoformat(today) - timedelta(days=7)).date().isoformat()
        door = self.door(today)

        def stamped(kind: str) -> list[dict[str, Any]]:
            return [{**f, "at": envelope.iso(f["at"])} for f in self._facts(kind)]

        heat = stamped("heatmap")
        sync = stamped("sync")
        return {
            "devices": stamped("device"),
            "seats": stamped("seat"),
            "emotion": [
                {**f, "negative_share": _negative_share(f["data"]), "fresh": now - f["at"] <= EMOTION_FRESH_S}
                for f in self._facts("emotion")
            ],
            "heatmap": heat[0] if heat else None,
            "sync": sync[0] if sync else None,
            "door": {
                "today": door,
                "last_week": self.door(last_week),
                "in_hall": max(0, door["in"] - door["out"]),
            },
        }


def _paper_out(d: dict[str, Any]) -> bool:
    text = f"{d.get('state', '')} {d.get('reason', '')} {d.get('detail', '')}".lower().replace(" ", "_")
    return d.get("paper") == "out" or "paper_out" in text or "no_paper" in text


def _negative_share(d: dict[str, Any]) -> float | None:
    try:
        parts = [float(d.get(k, 0) or 0) for k in ("positive", "neutral", "negative")]
    except (TypeError, ValueError):
        return None
    total = sum(parts)
    return parts[2] / total if total > 0 else None
