"""The panel's operations page: forecast against actual arrivals, the staffing plan, the seat table
(points), the roster, and the people in the hall with its uncertainty.

A manager sees everything and everyone; a staff member sees only their own seat
figures and points (matched by the name they open their counter with).
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.errors import InvalidRequest
from edge.panel.app import Panel, guard, json_reply

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(request: Request, name: str = "day") -> str | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    if not DAY.match(value):
        raise InvalidRequest(f"{name} must be a date like 2026-03-02")
    return value


def hourly(plan: dict[str, Any] | None, stats: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    """Forecast (from the saved plan) and actual arrivals per local hour, per business and in all.

    ``counts`` is the core's ``history.counts`` reply for the day with 60-minute slots: the queue's own
    tickets, or the imported history on a day the queue did not record.
    """
    codes = [b["code"] for b in stats["businesses"]]
    forecast = {b: [0.0] * 24 for b in codes}
    counters = [0] * 24
    for row in (plan or {}).get("rows", []):
        hour = datetime.fromisoformat(row["start"]).hour
        counters[hour] = max(counters[hour], int(row.get("counters") or 0))
        for b, v in row.get("businesses", {}).items():
            if b in forecast:
                forecast[b][hour] += float(v.get("arrivals") or 0)
    day = stats["day"]
    actual = {b: [0] * 24 for b in codes}
    for b, per in counts["counts"].items():
        for hour, n in per.get(day, {}).items():
            if b in actual and 0 <= int(hour) < 24:
                actual[b][int(hour)] = n
    return {
        "businesses": [{"code": b["code"], "name": b["name"]} for b in stats["businesses"]],
        "forecast": {b: [round(x, 1) for x in v] for b, v in forecast.items()},
        "actual": actual,
        "forecast_total": [round(sum(forecast[b][h] for b in codes), 1) for h in range(24)],
        "actual_total": [sum(actual[b][h] for b in codes) for h in range(24)],
        "counters_planned": counters,
    }


def routes(panel: Panel) -> list[Route]:
    @guard(panel, ("staff", "manager"))
    async def ops_day(request: Request) -> Response:
        session = request.state.session
        day = _day(request)
        if session.role != "manager":
            seats = await panel.request(
                "seats.day", {"day": day, "staff": session.name} if day else {"staff": session.name}
            )
            return json_reply({"role": session.role, "day": seats["day"], "seats": seats})
        stats = await panel.request("stats.day", {"day": day} if day else {})
        plan, seats, occupancy, counts = await asyncio.gather(
            panel.request("plan.get", {"kind": "day", "key": stats["day"]}),
            panel.request("seats.day", {"day": stats["day"]}),
            panel.request("occupancy.get"),
            panel.request(
                "history.counts", {"before": stats["day"], "weeks": 1, "slot_minutes": 60, "day": stats["day"]}
            ),
        )
        data = plan["data"] if plan else None
        return json_reply(
            {
                "role": session.role,
                "day": stats["day"],
                "plan": data,
                "plan_saved_at": plan["saved_at"] if plan else None,
                "hourly": hourly(data, stats, counts),
                "seats": seats,
                "occupancy": occupancy,
            }
        )

    @guard(panel, ("manager",))
    async def ops_roster(request: Request) -> Response:
        week = _day(request, "week")
        if week is None:
            status = await panel.request("queue.status")
            today = date.fromisoformat(status["day"])
            week = (today - timedelta(days=today.weekday())).isoformat()
        return json_reply(await panel.request("roster.get", {"week": week}))

    return [Route("/api/ops/day", ops_day), Route("/api/ops/roster", ops_roster)]
