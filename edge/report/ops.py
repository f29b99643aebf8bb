"""The daily report's operations part: forecast against actual per hour, the staffing plan, the seat table.

The plan is the one ``hall ops`` saved for the day; for a day without one it is
computed now from the history before that day (the same forecast). With less
than a week of history there is no forecast and the report says so.
"""

from __future__ import annotations

import html
from typing import Any

from edge.bus import BusClient
from edge.errors import HallError


def ops_data(bus: BusClient, day: str) -> dict[str, Any]:
    """What the report shows about operations on ``day`` (plan, hourly forecast and actual, seats)."""
    out: dict[str, Any] = {"day": day, "plan": None, "note": None}
    saved = bus.request("plan.get", {"kind": "day", "key": day})
    if saved is not None:
        out["plan"] = saved["data"]
    else:
        from datetime import date

        from edge import config
        from edge.ops.config import OpsConfig
        from edge.ops.planning import day_plan

        try:
            cfg = config.load()
            out["plan"] = day_plan(
                bus.request, cfg, config.service_config(cfg, "ops", OpsConfig), date.fromisoformat(day)
            )
        except HallError as exc:
            out["note"] = str(exc)
    counts = bus.request("history.counts", {"before": day, "weeks": 1, "slot_minutes": 60, "day": day}, timeout=30.0)
    actual = [0] * 24
    for per in counts["counts"].values():
        for hour, n in per.get(day, {}).items():
            if 0 <= int(hour) < 24:
                actual[int(hour)] += n
    forecast = [0.0] * 24
    for row in (out["plan"] or {}).get("rows", []):
        forecast[int(row["start"][11:13])] += float(row["arrivals"])
    out["actual_by_hour"] = actual
    out["forecast_by_hour"] = [round(x, 1) for x in forecast]
    out["seats"] = bus.request("seats.day", {"day": day})
    return out


def _minutes(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def plan_rows(data: dict[str, Any]) -> list[list[str]]:
    head = ["时段", "预测到达", "平均办理(分)", "需开窗口", "建议窗口", "各业务窗口"]
    plan = data["plan"] or {"rows": []}
    rows = [
        [
            r["start"][11:16],
            f"{r['arrivals']:.1f}",
            _minutes(r["aht_minutes"]),
            str(r["counters"]) + (f" (缺{r['short']})" if r["short"] else ""),
            "、".join(r["open"]),
            " ".join(f"{b}:{v['counters']}" for b, v in r["businesses"].items() if v["counters"]),
        ]
        for r in plan["rows"]
        if r["arrivals"]
    ]
    return [head, *rows]


def seat_rows(data: dict[str, Any], kind: str = "staff") -> list[list[str]]:
    head = [
        "员工" if kind == "staff" else "窗口",
        "叫号",
        "办结",
        "平均办理(分)",
        "过号率",
        "转移率",
        "造成等待(人·分)",
        "评价",
        "负面表情",
        "积分",
    ]
    rows = []
    for r in data["seats"][kind]:
        ratings = r["ratings"]
        rated = f"{ratings['average']:.1f}★ ({ratings['count']})" if ratings["count"] else "—"
        rows.append(
            [
                str(r.get("name") or r[kind if kind == "staff" else "counter"]),
                str(r["called"]),
                str(r["served"]),
                _minutes(r["avg_handling_minutes"]),
                _pct(r["no_show_rate"]),
                _pct(r["transfer_rate"]),
                f"{r['waits_caused_minutes']:.1f}",
                rated,
                _pct(r.get("negative_share")),
                f"{r['points']:g}",
            ]
        )
    return [head, *rows]


def figure(data: dict[str, Any]) -> Any:
    """Forecast (line) against actual (bars) arrivals per hour; None without a forecast."""
    from edge.report.plots import COLORS, _fig

    actual, forecast = data["actual_by_hour"], data["forecast_by_hour"]
    used = [h for h in range(24) if actual[h] or forecast[h]]
    if not used or data["plan"] is None:
        return None
    lo, hi = min(used), max(used) + 1
    fig, ax = _fig()
    ax.bar(range(lo, hi), actual[lo:hi], color=COLORS[0], label="实际到达 actual")
    ax.plot(range(lo, hi), forecast[lo:hi], color=COLORS[1], marker="o", label="预测 forecast")
    ax.set_title(f"分时到达：预测与实际 Forecast vs actual ({sum(actual)} / {sum(forecast):.0f})")
    ax.set_xlabel("时 hour")
    ax.set_ylabel("人 customers")
    ax.set_xticks(range(lo, hi))
    ax.legend(fontsize=8)
    return fig


def html_part(data: dict[str, Any], table: Any) -> str:
    """The HTML sections (``table`` renders rows as the report's tables do)."""
    parts = ["<h2>运营 Operations</h2>"]
    plan = data["plan"]
    if plan is None:
        parts.append(f"<p class='muted'>无预测：{html.escape(data['note'] or '')}</p>")
    else:
        parts.append(
            f"<p class='muted'>服务水平目标：{plan['service_level']:.0%} 的客户在 {plan['within_minutes']:g} 分钟内被叫号；"
            f"依据 {plan['history_days']} 天历史。</p>"
        )
        parts.append("<h3>人员排班需求 Staffing plan</h3>" + table(plan_rows(data)))
    rules = "，".join(f"{r['name']} {r['points']:+g}" for r in data["seats"]["rules"])
    parts.append(f"<h3>坐席质量与积分 Seats and points</h3><p class='muted'>积分规则：{html.escape(rules)}</p>")
    parts.append(table(seat_rows(data, "staff")) + table(seat_rows(data, "counters")))
    return "\n".join(parts)
