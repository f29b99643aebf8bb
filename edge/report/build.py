"""Build the daily report for one business day: ``report-DAY.html`` and ``report-DAY.pdf``.

Data comes from the core over the bus (``stats.day``, ``alert.list``,
``hall.facts``); figures are drawn on the box (matplotlib, Agg). The HTML file
is self-contained (figures inline as PNG); the PDF has a summary page and one
page per figure, with Chinese in an embedded CJK font::

    hall report day 2026-03-02 --out /tmp/reports
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
from datetime import date
from pathlib import Path
from typing import Any

from edge.bus import BusClient
from edge.errors import BusError, HallError, InvalidRequest
from edge.paths import Home
from edge.report import staff_names

RULE_NAMES = {
    "longest_wait": "最长等待超限",
    "waiting_per_counter": "窗口人均等候超限",
    "unattended": "窗口无人值守",
    "device_offline": "设备离线",
    "printer_paper": "打印机缺纸",
    "negative_emotion": "负面情绪偏高",
    "low_rating": "低分评价",
    "ahead_of_plan": "客流超计划",
    "occupancy_disagreement": "人数来源不一致",
}


def _minutes(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds / 60:.1f}"


def summary_rows(stats: dict[str, Any]) -> dict[str, list[list[str]]]:
    """The report's tables as rows of text (shared by HTML and PDF)."""
    businesses = [["业务", "取号", "办结", "未到", "取消", "平均等待(分)", "平均办理(分)"]] + [
        [
            f"{b['code']} {b['name']}",
            str(b["issued"]),
            str(b["done"]),
            str(b["no_show"]),
            str(b["cancelled"]),
            _minutes(b["avg_wait_s"]),
            _minutes(b["avg_handling_s"]),
        ]
        for b in stats["businesses"]
    ]
    counters = [["窗口", "服务人数", "未到", "平均办理(分)"]] + [
        [c["name"], str(c["served"]), str(c["no_show"]), _minutes(c["avg_handling_s"])] for c in stats["counters"]
    ]
    shown = staff_names(stats["staff"])
    staff = [["员工", "服务人数", "平均办理(分)"]] + [
        [shown[str(s["staff"])], str(s["served"]), _minutes(s["avg_handling_s"])] for s in stats["staff"]
    ]
    ev, waits, door = stats["evaluations"], stats["waits"], stats["door"]
    totals = [
        ["取号总数", str(sum(b["issued"] for b in stats["businesses"]))],
        ["办结总数", str(sum(b["done"] for b in stats["businesses"]))],
        ["未到(过号)", str(stats["no_shows"])],
        ["平均等待(分)", _minutes(waits["average_s"])],
        ["最长等待(分)", _minutes(waits["max_s"])],
        ["评价条数 / 平均分", f"{ev['count']} / {ev['average'] if ev['average'] is not None else '—'}"],
        ["低分评价(≤2星)", str(ev["low"])],
        ["进厅人数", str(door["in"]) if door["measured"] else "无客流数据"],
        ["告警", "、".join(f"{RULE_NAMES.get(k, k)} {n}" for k, n in stats["alerts"].items()) or "无"],
    ]
    names = {c["id"]: c["name"] for c in stats["counters"]}
    mood = [["窗口", "时段", "人脸", "负面表情占比", "评价数", "评价均分"]] + [
        [
            names.get(m["counter"], m["counter"]),
            f"{m['hour']:02d}:00–{m['hour'] + 1:02d}:00",
            str(m["faces"]),
            "—" if m["negative_share"] is None else f"{m['negative_share']:.0%}",
            str(m["ratings"]),
            "—" if m["rating_avg"] is None else str(m["rating_avg"]),
        ]
        for m in stats.get("counter_mood", [])
    ]
    return {"totals": totals, "businesses": businesses, "counters": counters, "staff": staff, "mood": mood}


def _table(rows: list[list[str]], head: bool = True) -> str:
    out = ["<table>"]
    for i, row in enumerate(rows):
        tag = "th" if head and i == 0 else "td"
        out.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row) + "</tr>")
    return "\n".join([*out, "</table>"])


CSS = """body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;margin:24px;color:#1b2733}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;border-bottom:2px solid #1f5fa8;padding-bottom:2px;margin-top:22px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #c8d1db;padding:3px 8px;text-align:left}
th{background:#eef3f9}img{max-width:100%;border:1px solid #e3e8ee;margin:6px 0}.muted{color:#67727e;font-size:12px}"""


def render_html(
    stats: dict[str, Any], alerts: list[dict[str, Any]], figures: list[tuple[str, Any]], ops: str = ""
) -> str:
    tables = summary_rows(stats)
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{html.escape(stats['hall']['name'])} 日报 {stats['day']}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(stats['hall']['name'])} 营业日报 {stats['day']}</h1>",
        f"<p class='muted'>Daily report of hall {html.escape(stats['hall']['id'])}, generated on the box.</p>",
        "<h2>概览 Summary</h2>",
        _table(tables["totals"], head=False),
        "<h2>业务 Businesses</h2>",
        _table(tables["businesses"]),
        "<h2>窗口与员工 Counters and staff</h2>",
        _table(tables["counters"]),
        _table(tables["staff"]),
    ]
    if len(tables["mood"]) > 1:
        parts += [
            "<h2>窗口情绪与评价 Expressions and ratings per counter</h2>",
            "<p class='muted'>匿名统计：各窗口前每小时看到的人脸中负面表情的占比，与该窗口同一时段的评价并列。</p>",
            _table(tables["mood"]),
        ]
    parts += [
        "<h2>图表 Figures</h2>",
    ]
    for name, fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        data = base64.b64encode(buf.getvalue()).decode()
        parts.append(f"<img alt='{name}' src='data:image/png;base64,{data}'>")
    if not any(name == "heatmap" for name, _ in figures):
        parts.append("<p class='muted'>无摄像头热力图数据 (no camera heatmap).</p>")
    if ops:
        parts.append(ops)
    parts.append("<h2>告警 Alerts</h2>")
    rows = [["时间", "规则", "内容", "确认"]] + [
        [a["raised_at"][11:19], RULE_NAMES.get(a["rule"], a["rule"]), a["message"], a["acknowledged_by"] or "未确认"]
        for a in alerts
    ]
    parts.append(_table(rows) if alerts else "<p>无告警</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_pdf(
    stats: dict[str, Any], figures: list[tuple[str, Any]], path: Path, extra: dict[str, list[list[str]]] | None = None
) -> None:
    from matplotlib import pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.transforms import Bbox

    tables = summary_rows(stats)
    with PdfPages(path, metadata={"Title": f"{stats['hall']['name']} 日报 {stats['day']}"}) as pdf:
        page = plt.figure(figsize=(8.27, 11.69), dpi=100)
        page.text(0.06, 0.96, f"{stats['hall']['name']} 营业日报 {stats['day']}", fontsize=17, weight="bold")
        y = 0.93
        sections = [("totals", "概览"), ("businesses", "业务"), ("counters", "窗口"), ("staff", "员工")]
        if 1 < len(tables["mood"]) <= 12:  # more than fits on the first page stays in the HTML report
            sections.append(("mood", "窗口情绪与评价"))
        for key, title in sections:
            rows = tables[key]
            height = 0.0165 * len(rows)
            page.text(0.06, y, title, fontsize=12, weight="bold")
            ax = page.add_axes((0.06, y - 0.01 - height, 0.88, height))
            ax.set_axis_off()
            table = ax.table(cellText=rows, bbox=Bbox.from_bounds(0, 0, 1, 1), cellLoc="left")
            table.auto_set_font_size(False)
            table.set_fontsize(8.5)
            y -= height + 0.04
        pdf.savefig(page)
        plt.close(page)
        if extra:
            page = plt.figure(figsize=(8.27, 11.69), dpi=100)
            y = 0.96
            for title, rows in extra.items():
                height = 0.0165 * len(rows)
                page.text(0.06, y, title, fontsize=12, weight="bold")
                ax = page.add_axes((0.06, y - 0.01 - height, 0.88, height))
                ax.set_axis_off()
                table = ax.table(cellText=rows, bbox=Bbox.from_bounds(0, 0, 1, 1), cellLoc="left")
                table.auto_set_font_size(False)
                table.set_fontsize(7.5)
                y -= height + 0.04
            pdf.savefig(page)
            plt.close(page)
        for _, fig in figures:
            pdf.savefig(fig)


def heatmap_file(home_root: Path, facts: dict[str, Any]) -> Path | None:
    """The heatmap PNG to show: the one a ``heatmap.*`` event named, else the vision service's file."""
    heat = facts.get("heatmap")
    named = str((heat or {}).get("data", {}).get("path") or "")
    root = home_root.resolve()
    for path in (Path(named) if named else None, home_root / "vision" / "heatmap.png"):
        if path is not None and path.suffix == ".png" and path.is_file() and root in path.resolve().parents:
            return path
    return None


def build_report(bus: BusClient, day: str | None, out_dir: Path) -> dict[str, Path]:
    """Fetch the day's data, draw, and write ``report-DAY.html`` and ``.pdf`` into ``out_dir``."""
    from matplotlib import pyplot as plt

    from edge.report import plots

    if day:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise InvalidRequest(f"day {day!r} is not a date like 2026-03-02") from None
    stats = bus.request("stats.day", {"day": day, "waits": True} if day else {"waits": True}, timeout=10.0)
    alerts = bus.request("alert.list", {"state": "all", "day": stats["day"], "limit": 500})
    facts = bus.request("hall.facts")
    figures = plots.all_figures(stats, heatmap_file(Home.from_env().root, facts))
    from edge.report import ops as ops_part

    ops = ops_part.ops_data(bus, stats["day"])
    fig = ops_part.figure(ops)
    if fig is not None:
        figures.insert(0, ("forecast", fig))
    extra = {"坐席质量与积分 Seats and points": ops_part.seat_rows(ops)}
    if ops["plan"] is not None:
        extra = {"人员排班需求 Staffing plan": ops_part.plan_rows(ops)[:40], **extra}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        html_path = out_dir / f"report-{stats['day']}.html"
        pdf_path = out_dir / f"report-{stats['day']}.pdf"
        html_path.write_text(render_html(stats, alerts, figures, ops_part.html_part(ops, _table)), encoding="utf-8")
        render_pdf(stats, figures, pdf_path, extra)
    except OSError as exc:
        raise HallError(f"cannot write the report into {out_dir}: {exc}") from exc
    finally:
        for _, fig in figures:
            plt.close(fig)
    return {"html": html_path, "pdf": pdf_path}


def reachable(bus: BusClient, wait_s: float = 1.5) -> None:
    """Ask the core whether it is there (twice, ``wait_s`` each) before the day's data, which may take a while."""
    try:
        bus.request("hall.ping", timeout=wait_s, retries=1)
    except BusError as exc:
        raise BusError(f"the core is not answering at {bus.endpoints.requests} (is `hall core` running?)") from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall report", description="Daily report (HTML and PDF with plots).")
    sub = p.add_subparsers(dest="cmd", required=True)
    day = sub.add_parser("day", help="build the report of one business day")
    day.add_argument("date", nargs="?", help="YYYY-MM-DD (default: today)")
    day.add_argument("--out", help="output folder (default: $HALL_HOME/reports)")
    a = p.parse_args(argv)
    out = Path(a.out) if a.out else Home.from_env().root / "reports"
    try:
        with BusClient("report", timeout=10.0, retries=1) as bus:
            reachable(bus)
            paths = build_report(bus, a.date, out)
    except InvalidRequest as exc:
        print(f"hall report: {exc}", file=sys.stderr)
        return 2
    except HallError as exc:
        print(f"hall report: {exc}", file=sys.stderr)
        return 1
    for path in paths.values():
        print(path)
    return 0
