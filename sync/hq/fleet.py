"""The fleet at HQ: every hall at a glance, judged from what HQ acknowledged, and one hall in detail.

A hall's **link** is judged from HQ's own records, never from what the box says
of itself: ``last_seen`` (the last request HQ authenticated from it; an idle box
still asks for bundles every ``bundle_poll_s``) and ``last_ack`` (the last batch
HQ stored), with the backlog HQ computes (the box's head as reported with its last
batch, minus what HQ holds or was told was shed)::

    >>> judge(None, None, 0, now=1000.0)
    'never'
    >>> judge(990.0, 990.0, 0, now=1000.0), judge(990.0, 100.0, 0, now=1000.0)
    ('up', 'up')
    >>> judge(990.0, 700.0, 5000, now=1000.0)      # in touch, but nothing stored for 5 minutes
    'late'
    >>> judge(700.0, 700.0, 0, now=1000.0), judge(100.0, 100.0, 0, now=1000.0)
    ('late', 'down')

``up``: heard from within ``late_s`` (180 s: three bundle polls), and either
nothing waits or a batch was stored within ``late_s``. ``late``: heard from
within ``down_s`` (600 s) but not up. ``down``: silent for ``down_s``. ``never``:
HQ never heard from it.

The day's figures are kept as batches arrive (:func:`project`, in the batch's
transaction): tickets issued, waits (issue or transfer to first call, from
``ticket.called``), ratings (``evaluation.recorded``), by the day on HQ's clock
(``TZ`` of the HQ server, else ``Asia/Shanghai``); open alerts from
``alert.raised`` / ``alert.cleared``; each device's last ``device.health``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.errors import NotFound

LATE_S = 180.0
DOWN_S = 600.0
LINKS = ("up", "late", "down", "never")
WATCHED = frozenset(
    {"ticket.issued", "ticket.called", "evaluation.recorded", "alert.raised", "alert.cleared", "device.health"}
)


def judge(
    last_seen: float | None,
    last_ack: float | None,
    backlog: int,
    *,
    now: float,
    late_s: float = LATE_S,
    down_s: float = DOWN_S,
) -> str:
    """``up``, ``late``, ``down`` or ``never`` (see the module)."""
    if last_seen is None and last_ack is None:
        return "never"
    heard = max(t for t in (last_seen, last_ack) if t is not None)
    if now - heard >= down_s:
        return "down"
    if now - heard < late_s and (backlog == 0 or (last_ack is not None and now - last_ack < late_s)):
        return "up"
    return "late"


def hq_zone() -> ZoneInfo:
    try:
        return ZoneInfo(os.environ.get("HALL_HQ_TZ") or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


class _Days:
    """The day on HQ's clock of an ISO time, remembered per hour (a batch spans a few hours at most)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self.seen: dict[str, str] = {}

    def of(self, ts: str) -> str | None:
        hour = ts[:13] + ts[23:]  # the zone suffix matters
        day = self.seen.get(hour)
        if day is None:
            try:
                day = datetime.fromisoformat(ts).astimezone(self.zone).date().isoformat()
            except ValueError:
                return None
            self.seen[hour] = day
        return day


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            return {}
    return data if isinstance(data, dict) else {}


def _seconds(a: Any, b: Any) -> float | None:
    try:
        return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()
    except (TypeError, ValueError):
        return None


def project(cur: Any, mark: str, hall: str, events: Iterable[dict[str, Any]], zone: ZoneInfo) -> None:
    """Fold a stored batch's events into the fleet's figures (inside the batch's transaction)."""
    days: dict[str, list[Any]] = {}  # day -> [tickets, waits, wait_s, ratings, rating_sum, first_seq]
    raised: dict[str, tuple[str, str, str]] = {}
    cleared: set[str] = set()
    devices: dict[str, tuple[str, str, str]] = {}
    clock = _Days(zone)
    for e in events:
        topic = e["topic"]
        if topic not in WATCHED:
            continue
        if topic == "alert.raised" or topic == "alert.cleared":
            data = _data(e)
            key = str(data.get("key") or data.get("id") or "")[:200]
            if not key:
                continue
            if topic == "alert.raised":
                cleared.discard(key)
                raised[key] = (str(data.get("rule", ""))[:64], str(data.get("message", ""))[:500], e["ts"])
            else:
                raised.pop(key, None)
                cleared.add(key)
            continue
        if topic == "device.health":
            data = _data(e)
            device = data.get("device")
            if isinstance(device, str) and device:
                devices[device[:64]] = (str(data.get("state", ""))[:16], str(data.get("detail", ""))[:200], e["ts"])
            continue
        day = clock.of(e["ts"])
        if day is None:
            continue
        row = days.setdefault(day, [0, 0, 0.0, 0, 0, e["seq"]])
        if topic == "ticket.issued":
            row[0] += 1
        elif topic == "ticket.called":
            data = _data(e)
            wait = _seconds(data.get("queued_at") or data.get("issued_at"), data.get("called_at"))
            if wait is not None and 0 <= wait < 86400:
                row[1] += 1
                row[2] += wait
        else:
            score = _data(e).get("score")
            if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
                row[3] += 1
                row[4] += score
    m = mark
    for day, (tickets, waits, wait_s, ratings, rating_sum, first) in days.items():
        cur.execute(
            f"INSERT INTO hall_days (hall, day, tickets, waits, wait_s, ratings, rating_sum, first_seq) "
            f"VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m}, {m}) ON CONFLICT (hall, day) DO UPDATE SET "
            "tickets = hall_days.tickets + excluded.tickets, waits = hall_days.waits + excluded.waits, "
            "wait_s = hall_days.wait_s + excluded.wait_s, ratings = hall_days.ratings + excluded.ratings, "
            "rating_sum = hall_days.rating_sum + excluded.rating_sum, "
            "first_seq = CASE WHEN hall_days.first_seq < excluded.first_seq THEN hall_days.first_seq "
            "ELSE excluded.first_seq END",
            (hall, day, tickets, waits, wait_s, ratings, rating_sum, first),
        )
    for key in cleared:
        cur.execute(f"DELETE FROM hall_alerts WHERE hall = {m} AND key = {m}", (hall, key))
    for key, (rule, message, at) in raised.items():
        cur.execute(
            f"INSERT INTO hall_alerts (hall, key, rule, message, raised_at) VALUES ({m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (hall, key) DO UPDATE SET rule = excluded.rule, message = excluded.message, "
            "raised_at = excluded.raised_at",
            (hall, key, rule, message, at),
        )
    for device, (state, detail, at) in devices.items():
        cur.execute(
            f"INSERT INTO hall_devices (hall, device, state, detail, at) VALUES ({m}, {m}, {m}, {m}, {m}) "
            "ON CONFLICT (hall, device) DO UPDATE SET state = excluded.state, detail = excluded.detail, "
            "at = excluded.at",
            (hall, device, state, detail, at),
        )


def today(now: float, zone: ZoneInfo | None = None) -> str:
    return datetime.fromtimestamp(now, zone or hq_zone()).date().isoformat()


def rows(store: Any, *, now: float, late_s: float = LATE_S, down_s: float = DOWN_S) -> list[dict[str, Any]]:
    """Every hall at a glance, by region then hall id."""
    from edge.envelope import iso

    day = today(now)
    m = store.d.mark
    with store._tx() as cur:
        cur.execute(
            "SELECT h.hall, h.name, h.region, h.head, h.held, h.shed, h.last_seen, h.last_ack, "
            "d.tickets, d.waits, d.wait_s, d.ratings, d.rating_sum, "
            "(SELECT COUNT(*) FROM hall_alerts a WHERE a.hall = h.hall) "
            f"FROM halls h LEFT JOIN hall_days d ON d.hall = h.hall AND d.day = {m} ORDER BY h.region, h.hall",
            (day,),
        )
        found = cur.fetchall()
        cur.execute(
            "SELECT r.hall, r.version, r.applied, r.error FROM bundle_results r WHERE r.at = "
            "(SELECT MAX(at) FROM bundle_results x WHERE x.hall = r.hall)"
        )
        bundles = {r[0]: {"version": int(r[1]), "applied": bool(r[2]), "error": r[3]} for r in cur.fetchall()}
    out = []
    for hall, name, region, head, held, shed, seen, ack, tickets, waits, wait_s, ratings, rating_sum, alerts in found:
        backlog = max(0, int(head) - int(held) - int(shed))
        out.append(
            {
                "hall": hall,
                "name": name,
                "region": region,
                "link": judge(seen, ack, backlog, now=now, late_s=late_s, down_s=down_s),
                "backlog": backlog,
                "last_ack": iso(ack),
                "last_seen": iso(seen),
                "alerts_open": int(alerts),
                "tickets_today": int(tickets or 0),
                "wait_avg_min": round(float(wait_s) / int(waits) / 60, 1) if waits else None,
                "rating_avg": round(int(rating_sum) / int(ratings), 2) if ratings else None,
                "ratings_today": int(ratings or 0),
                "bundle": bundles.get(hall),
            }
        )
    return out


def summary(halls: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts of halls by link, by region."""
    regions: dict[str, dict[str, int]] = {}
    for h in halls:
        counts = regions.setdefault(h["region"], dict.fromkeys(LINKS, 0))
        counts[h["link"]] += 1
    return {
        "halls": len(halls),
        "links": {link: sum(1 for h in halls if h["link"] == link) for link in LINKS},
        "regions": regions,
    }


def hall_page(store: Any, hall: str, *, now: float, late_s: float = LATE_S, down_s: float = DOWN_S) -> dict[str, Any]:
    """One hall: its row, queues now (from today's ticket events), devices, open alerts, bundles."""
    row = next((r for r in rows(store, now=now, late_s=late_s, down_s=down_s) if r["hall"] == hall), None)
    if row is None:
        raise NotFound(f"hall {hall} is not known to HQ")
    m = store.d.mark
    with store._tx() as cur:
        cur.execute(f"SELECT first_seq FROM hall_days WHERE hall = {m} AND day = {m}", (hall, today(now)))
        first = cur.fetchone()
        tickets: dict[str, dict[str, Any]] = {}
        if first and first[0] is not None:
            cur.execute(
                f"SELECT data FROM events WHERE hall = {m} AND seq >= {m} AND topic >= 'ticket.' "
                "AND topic < 'ticket/' ORDER BY seq",
                (hall, int(first[0])),
            )
            for (text,) in cur.fetchall():
                data = _data({"data": text})
                if isinstance(data.get("id"), str):
                    tickets[data["id"]] = data
        cur.execute(f"SELECT device, state, detail, at FROM hall_devices WHERE hall = {m} ORDER BY device", (hall,))
        devices = [dict(zip(("device", "state", "detail", "at"), r, strict=True)) for r in cur.fetchall()]
        cur.execute(
            f"SELECT key, rule, message, raised_at FROM hall_alerts WHERE hall = {m} ORDER BY raised_at DESC", (hall,)
        )
        alerts = [dict(zip(("key", "rule", "message", "raised_at"), r, strict=True)) for r in cur.fetchall()]
        cur.execute(
            f"SELECT version, applied, error, at FROM bundle_results WHERE hall = {m} ORDER BY version DESC LIMIT 10",
            (hall,),
        )
        from edge.envelope import iso

        bundles = [
            {"version": int(r[0]), "applied": bool(r[1]), "error": r[2], "at": iso(r[3])} for r in cur.fetchall()
        ]
    queues: dict[str, dict[str, Any]] = {}
    for t in tickets.values():
        code = str(t.get("business", "?"))
        q = queues.setdefault(code, {"business": code, "name": t.get("business_name") or code, "waiting": 0,
                                     "serving": 0, "done": 0})  # fmt: skip
        state = t.get("state")
        if state == "issued":
            q["waiting"] += 1
        elif state in ("called", "serving"):
            q["serving"] += 1
        elif state == "done":
            q["done"] += 1
    return {**row, "queues": sorted(queues.values(), key=lambda q: q["business"]), "devices": devices,
            "alerts": alerts, "bundles": bundles}  # fmt: skip
