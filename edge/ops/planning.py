"""Forecasts and staffing plans from the core's history: what ``hall forecast``/``hall staffing``, the
``ops`` service and the daily report share.

``request`` is a bus client's ``request`` (topic, data → result); the hall's
businesses and counters come from ``queue.status``, so HQ's bundle is respected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.config import HallConfig
from edge.ops.config import OpsConfig
from edge.ops.days import Calendar

Request = Callable[[str, dict[str, Any]], Any]
DEFAULT_AHT = 5.0


def _hall(request: Request) -> dict[str, Any]:
    status: dict[str, Any] = request("queue.status", {})
    return status


def forecast_rows(
    request: Request, cfg: HallConfig, ops: OpsConfig, start: date, days: int, slot_minutes: int | None = None
) -> dict[str, Any]:
    """``{"rows": [{"business", "start", "arrivals"}], "aht_minutes", "history_days", "unknown_years", …}``."""
    from edge.ops.forecast import forecast

    slot = slot_minutes or ops.slot_minutes
    status = _hall(request)
    codes = [b["code"] for b in status["businesses"]]
    reply = request("history.counts", {"before": start.isoformat(), "weeks": ops.history_weeks, "slot_minutes": slot})
    counts = {
        b: {date.fromisoformat(d): {int(k): n for k, n in slots.items()} for d, slots in per.items()}
        for b, per in reply["counts"].items()
    }
    cal = Calendar(ops.extra_holidays, ops.extra_workdays)
    result = forecast(
        counts,
        businesses=codes,
        start=start,
        days=days,
        calendar=cal,
        history_weeks=ops.history_weeks,
        halflife_days=ops.halflife_days,
    )
    zone = ZoneInfo(cfg.hall.timezone)
    defaults = {b.code: float(b.default_service_minutes) for b in cfg.businesses}
    aht = {b: float(reply["aht_minutes"].get(b) or defaults.get(b, DEFAULT_AHT)) for b in codes}
    return {
        "rows": [
            {"business": s.business, "start": s.start(zone, slot).isoformat(), "arrivals": s.arrivals}
            for s in result.slots
        ],
        "slot_minutes": slot,
        "aht_minutes": aht,
        "history_days": result.history_days,
        "unknown_years": list(result.unknown_years),
        "businesses": codes,
        "counters": [
            {"id": c["id"], "name": c["name"], "primary": c["primary"], "secondary": c["secondary"]}
            for c in status["counters"]
        ],
    }


def day_plan(
    request: Request,
    cfg: HallConfig,
    ops: OpsConfig,
    day: date,
    *,
    service_level: float | None = None,
    within_minutes: float | None = None,
    slot_minutes: int | None = None,
) -> dict[str, Any]:
    """The day's forecast and, per slot, the counters to open (Erlang C, counter skills)."""
    return plan_days(
        request, cfg, ops, day, 1, service_level=service_level, within_minutes=within_minutes, slot_minutes=slot_minutes
    )[0]


def plan_days(
    request: Request,
    cfg: HallConfig,
    ops: OpsConfig,
    start: date,
    days: int,
    *,
    service_level: float | None = None,
    within_minutes: float | None = None,
    slot_minutes: int | None = None,
) -> list[dict[str, Any]]:
    """One plan per day from ``start``, all from one forecast (the history before ``start``)."""
    from edge.ops.staffing import CounterSkills, Demand, capacity, plan_slot

    sl = service_level if service_level is not None else ops.service_level
    within = within_minutes if within_minutes is not None else ops.within_minutes
    fc = forecast_rows(request, cfg, ops, start, days, slot_minutes)
    slot = fc["slot_minutes"]
    counters = [CounterSkills(c["id"], tuple(c["primary"]), tuple(c["secondary"])) for c in fc["counters"]]
    aht = fc["aht_minutes"]
    # for the live check: the most arrivals per slot that 1, 2, … counters serve at the target
    caps = {
        b: [
            capacity(k, aht_minutes=aht[b], slot_minutes=slot, target=sl, within_minutes=within)
            for k in range(1, 2 + max(1, sum(1 for c in counters if b in c.serves)))
        ]
        for b in fc["businesses"]
    }
    plans = []
    for i in range(days):
        day = (start + timedelta(days=i)).isoformat()
        by_start: dict[str, dict[str, float]] = {}
        for r in fc["rows"]:
            if r["start"][:10] == day:
                by_start.setdefault(r["start"], {})[r["business"]] = r["arrivals"]
        rows = []
        for begin, arrivals in by_start.items():
            demands = {b: Demand(n, aht[b]) for b, n in arrivals.items()}
            p = plan_slot(demands, counters, slot_minutes=slot, service_level=sl, within_minutes=within)
            total = sum(arrivals.values())
            rows.append(
                {
                    "start": begin,
                    "arrivals": round(total, 2),
                    "aht_minutes": round(sum(n * aht[b] for b, n in arrivals.items()) / total, 2)
                    if total > 0
                    else None,
                    "counters": p.counters,
                    "open": p.open,
                    "short": p.short,
                    "businesses": {
                        b: {
                            "arrivals": round(n, 2),
                            "aht_minutes": round(aht[b], 2),
                            "counters": p.per_business.get(b, 0),
                        }
                        for b, n in arrivals.items()
                    },
                }
            )
        plans.append(
            {
                "day": day,
                "slot_minutes": slot,
                "service_level": sl,
                "within_minutes": within,
                "rows": rows,
                "capacity": caps,
                "aht_minutes": aht,
                "history_days": fc["history_days"],
                "unknown_years": fc["unknown_years"],
                "counters": fc["counters"],
            }
        )
    return plans


def week_roster(request: Request, cfg: HallConfig, ops: OpsConfig, monday: date) -> dict[str, Any]:
    """A roster suggestion for the week from ``monday``: the week's plans, the staff's skills, the shifts."""
    from edge.ops.roster import Need, Person, suggest

    plans = plan_days(request, cfg, ops, monday, 7)
    serves = {c["id"]: {*c["primary"], *c["secondary"]} for c in plans[0]["counters"]}
    everything = {b for v in serves.values() for b in v}
    staff = [
        Person(
            p["id"],
            p["name"],
            frozenset(b for cid in p["counters"] for b in serves.get(cid, set()))
            if p["counters"]
            else frozenset(everything),
        )
        for p in request("roster.staff", {})
    ]
    need: dict[tuple[date, int], Need] = {}
    for plan in plans:
        for r in plan["rows"]:
            at = datetime.fromisoformat(r["start"])
            per = {b: v["counters"] for b, v in r["businesses"].items() if v["counters"]}
            need[(at.date(), at.hour * 60 + at.minute)] = Need(r["counters"], per)
    days = [monday + timedelta(days=i) for i in range(7)]
    out = suggest(days, need, plans[0]["slot_minutes"], staff, ops.shifts, max_days=ops.max_days_per_week)
    out["week"] = monday.isoformat()
    out["staff"] = [{"id": p.id, "name": p.name, "skills": sorted(p.skills)} for p in staff]
    out["need"] = [
        {"day": d.isoformat(), "start": f"{m // 60:02d}:{m % 60:02d}", "counters": n.counters}
        for (d, m), n in sorted(need.items())
        if n.counters
    ]
    return out


def basis(request: Request, ops: OpsConfig, day: date) -> str:
    """A fingerprint of what a day's plan depends on: the history's extent and the settings."""
    summary = request("history.summary", {})
    status = _hall(request)
    text = json.dumps(
        [
            summary,
            ops.model_dump(mode="json"),
            [b["code"] for b in status["businesses"]],
            [(c["id"], c["primary"], c["secondary"]) for c in status["counters"]],
            day.isoformat(),
        ],
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def local_day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def week_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())
