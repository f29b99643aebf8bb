"""``hall history``, ``hall forecast``, ``hall staffing``: the hall's past, its expected customers, its counters."""

from __future__ import annotations

import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from edge.cli.main import emit, parser, run_with_errors


def _bus(timeout: float = 10.0) -> Any:
    from edge.bus import BusClient

    return BusClient("cli", timeout=timeout, retries=2)


def _configs() -> tuple[Any, Any]:
    from edge import config
    from edge.ops.config import OpsConfig

    cfg = config.load()
    return cfg, config.service_config(cfg, "ops", OpsConfig)


def _day(text: str) -> date:
    from edge.errors import InvalidRequest

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{text!r} is not a date like 2026-03-02") from None


def history_main(argv: list[str]) -> int:
    p = parser("history", "Import the hall's history from its old system, or export it.")
    sub = p.add_subparsers(dest="cmd", required=True)
    imp = sub.add_parser("import", help="import visits from a CSV file (checked whole; importing twice adds nothing)")
    imp.add_argument("file", help="CSV with the header business,issued_at,called_at,finished_at,counter,staff,rating")
    imp.add_argument("--json", action="store_true")
    exp = sub.add_parser("export", help="write the history (own tickets and imported visits) as the same CSV")
    exp.add_argument("--from", dest="first", help="first business day (default: the first there is)")
    exp.add_argument("--to", dest="last", help="last business day (default: the last there is)")
    exp.add_argument("--out", help="file to write (default: standard output)")
    a = p.parse_args(argv)
    if a.cmd == "import":
        return run_with_errors(lambda: _import(a.file, a.json))
    return run_with_errors(lambda: _export(a.first, a.last, a.out))


def _import(path: str, as_json: bool) -> None:
    from edge.errors import InvalidRequest
    from edge.ops import history

    try:
        with open(path, encoding="utf-8-sig", newline="") as f, _bus() as bus:
            codes = {b["code"] for b in bus.request("queue.status")["businesses"]}
            visits = history.parse(f, businesses=codes, now=time.time())  # a visit in the future, refused up front
            if not visits:
                raise InvalidRequest(f"{path}: no rows after the header; nothing imported")
            out = history.send(bus.request, visits, import_id=uuid.uuid4().hex, file=Path(path).name)
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); nothing imported") from None
    except history.HistoryError as exc:
        raise InvalidRequest(f"{path}: {exc}") from None

    def human(o: dict[str, Any]) -> str:
        span = f" ({o['first']} to {o['last']})" if o["first"] else ""
        line = f"{o['rows']} visit(s) read, {o['added']} added{span}, {o['already']} already there"
        if o["shadowed"]:
            line += f"; {o['shadowed']} fall on days the queue recorded itself and are kept but not used"
        return line

    emit(out, as_json, human)


def _export(first: str | None, last: str | None, out: str | None) -> None:
    from zoneinfo import ZoneInfo

    from edge.errors import HallError
    from edge.ops import history

    cfg, _ = _configs()
    zone = ZoneInfo(cfg.hall.timezone)
    with _bus() as bus:
        summary = bus.request("history.summary")
        lo = _day(first) if first else (_day(summary["first"]) if summary["first"] else None)
        hi = _day(last) if last else (_day(summary["last"]) if summary["last"] else None)
        visits: list[dict[str, Any]] = []
        day = lo
        while day is not None and hi is not None and day <= hi:
            end = min(hi, day + timedelta(days=6))
            visits += bus.request("history.visits", {"first": day.isoformat(), "last": end.isoformat()})
            day = end + timedelta(days=1)
    if not out:
        history.write(visits, sys.stdout, zone)
        return
    target = Path(out)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as f:
            n = history.write(visits, f, zone)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise HallError(f"cannot write {out}: {exc.strerror}") from None
    print(f"{n} visit(s) written to {out}", file=sys.stderr)


def forecast_main(argv: list[str]) -> int:
    p = parser("forecast", "Arrivals per business per slot for coming days, from the history before them.")
    p.add_argument("--from", dest="start", required=True, help="first day to forecast, YYYY-MM-DD")
    p.add_argument("--days", type=int, default=7, help="how many days (default 7)")
    p.add_argument("--slot", type=int, choices=[10, 15, 20, 30, 60], help="minutes per slot (default 30)")
    p.add_argument("--json", action="store_true", help='rows {"business", "start", "arrivals"}')
    a = p.parse_args(argv)

    def body() -> None:
        from edge.errors import InvalidRequest
        from edge.ops.planning import forecast_rows

        if not 1 <= a.days <= 62:
            raise InvalidRequest("--days must be from 1 to 62")
        cfg, ops = _configs()
        with _bus(timeout=30.0) as bus:
            fc = forecast_rows(bus.request, cfg, ops, _day(a.start), a.days, a.slot)
        _warn_years(fc["unknown_years"])
        emit(fc["rows"], a.json, lambda rows: _table(rows, fc["businesses"]))

    return run_with_errors(body)


def _warn_years(years: list[int]) -> None:
    if years:
        print(
            f"hall: no holiday schedule for {', '.join(map(str, years))}; those days follow plain weekdays",
            file=sys.stderr,
        )


def _table(rows: list[dict[str, Any]], codes: list[str]) -> str:
    by_start: dict[str, dict[str, float]] = {}
    for r in rows:
        by_start.setdefault(r["start"], {})[r["business"]] = r["arrivals"]
    lines = ["start             " + "".join(f"{c:>7}" for c in codes) + "  total"]
    for start, per in by_start.items():
        if not any(per.values()):
            continue
        lines.append(
            f"{start[:16]:<18}" + "".join(f"{per.get(c, 0):7.1f}" for c in codes) + f"{sum(per.values()):7.1f}"
        )
    return "\n".join(lines)


def staffing_main(argv: list[str]) -> int:
    p = parser("staffing", "Counters to open per slot for a service level, by Erlang C and counter skills.")
    p.add_argument("--day", required=True, help="business day, YYYY-MM-DD")
    p.add_argument("--service-level", type=float, help="share of customers called within the target (default 0.8)")
    p.add_argument("--within", type=float, help="target wait in minutes (default 10)")
    p.add_argument("--slot", type=int, choices=[10, 15, 20, 30, 60], help="minutes per slot (default 30)")
    p.add_argument("--json", action="store_true", help='rows {"start", "arrivals", "aht_minutes", "counters", …}')
    a = p.parse_args(argv)

    def body() -> None:
        from edge.errors import InvalidRequest
        from edge.ops.planning import day_plan

        if a.service_level is not None and not 0 < a.service_level < 1:
            raise InvalidRequest("--service-level is a share between 0 and 1, e.g. 0.8")
        if a.within is not None and not 0 < a.within <= 240:
            raise InvalidRequest("--within is minutes, more than 0 and at most 240")
        cfg, ops = _configs()
        with _bus(timeout=30.0) as bus:
            plan = day_plan(
                bus.request,
                cfg,
                ops,
                _day(a.day),
                service_level=a.service_level,
                within_minutes=a.within,
                slot_minutes=a.slot,
            )
        _warn_years(plan["unknown_years"])
        emit(plan["rows"], a.json, lambda rows: _staffing_table(rows, plan))

    return run_with_errors(body)


def _staffing_table(rows: list[dict[str, Any]], plan: dict[str, Any]) -> str:
    head = (
        f"{plan['day']}: {plan['service_level']:.0%} of customers called within {plan['within_minutes']:g} min\n"
        "start  arrivals  aht  counters  open"
    )
    lines = [head]
    for r in rows:
        if not r["arrivals"]:
            continue
        per = " ".join(f"{b}:{v['counters']}" for b, v in r["businesses"].items() if v["counters"])
        short = f"  SHORT BY {r['short']}" if r["short"] else ""
        lines.append(
            f"{r['start'][11:16]}  {r['arrivals']:8.1f}  {r['aht_minutes'] or 0:4.1f}  {r['counters']:8d}"
            f"  {','.join(r['open'])}  ({per}){short}"
        )
    return "\n".join(lines)
