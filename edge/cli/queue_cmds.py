"""``hall ticket``, ``hall counter``, ``hall appointment``, ``hall status``: the queue from a shell."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cli.main import emit, parser, run_with_errors

PAGE = 500  # tickets per ticket.list request; the command follows the pages to the end


def _bus() -> Any:
    from edge.bus import BusClient

    return BusClient("cli", timeout=3.0, retries=2)


def _ticket_line(t: dict[str, Any]) -> str:
    parts = [t["number"], t["business_name"], t["state"]]
    if t.get("priority") not in (None, "normal"):
        parts.append(t["priority"])
    if t.get("counter"):
        parts.append(f"counter {t['counter']}")
    if "people_ahead" in t and t["state"] == "issued":
        parts.append(f"{t['people_ahead']} ahead, {_wait(t)}")
    return "  ".join(parts)


def _wait(t: dict[str, Any]) -> str:
    """``~8 min``; when no counter serving the business is open: ``no counter open yet (~5 min once one opens)``."""
    if t.get("wait_minutes") is not None:
        return f"~{t['wait_minutes']} min"
    after = t.get("wait_minutes_after_opening")
    if after is None:
        return "no counter open yet"
    return "no counter open yet" + (" (first when one opens)" if after == 0 else f" (~{after} min once one opens)")


def _customer(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    from edge.identity import Keyring, parse_ref_arg
    from edge.paths import Home

    home = Home.from_env()
    return parse_ref_arg(text, keyring=Keyring.load(home.customer_keys_path, home.secret_path)).to_dict()


def ticket_main(argv: list[str]) -> int:
    p = parser("ticket", "Issue, list, show, cancel or rate tickets.")
    sub = p.add_subparsers(dest="cmd", required=True)
    issue = sub.add_parser("issue", help="take a ticket for a business")
    issue.add_argument("business", help="business code, e.g. A")
    issue.add_argument("--priority", choices=["normal", "vip", "green"], default="normal")
    issue.add_argument("--customer", help="id:NUMBER[:NAME], ic:ACCOUNT or a bare ID number (hashed here)")
    ls = sub.add_parser("list", help="a day's tickets, all of them (the command follows the pages)")
    ls.add_argument("--state", help="issued, called, serving, done, no_show, transferred, cancelled")
    ls.add_argument("--business")
    ls.add_argument("--day", help="YYYY-MM-DD (default: today)")
    show = sub.add_parser("show", help="one ticket, with why it was called")
    show.add_argument("number")
    show.add_argument("--day")
    cancel = sub.add_parser("cancel", help="cancel a waiting ticket")
    cancel.add_argument("number")
    rate = sub.add_parser("evaluate", help="record a 1-5 rating of a finished ticket")
    rate.add_argument("number")
    rate.add_argument("score", type=int)
    rate.add_argument("--reason", action="append", default=[])
    for sp in (issue, ls, show, cancel, rate):
        sp.add_argument("--json", action="store_true", help="machine-readable output")
    a = p.parse_args(argv)

    def body() -> None:
        with _bus() as bus:
            if a.cmd == "issue":
                data: dict[str, Any] = {"business": a.business, "priority": a.priority, "channel": "cli"}
                cust = _customer(a.customer)
                if cust:
                    data["customer"] = cust
                emit(bus.request("ticket.issue", data), a.json, _ticket_line)
            elif a.cmd == "list":
                data = {k: v for k, v in (("state", a.state), ("business", a.business), ("day", a.day)) if v}
                tickets = list(_pages(bus, data))
                emit(tickets, a.json, lambda ts: "\n".join(map(_ticket_line, ts)) or "(none)")
            elif a.cmd == "show":
                data = {"number": a.number, **({"day": a.day} if a.day else {})}
                shown = bus.request("ticket.show", data)
                zone = None if a.json else _hall_zone(bus)
                emit(shown, a.json, lambda t: _show(t, zone))
            elif a.cmd == "cancel":
                emit(bus.request("ticket.cancel", {"number": a.number}), a.json, _ticket_line)
            else:
                out = bus.request("ticket.evaluate", {"number": a.number, "score": a.score, "reasons": a.reason})
                emit(out, a.json, lambda e: f"{e['number']} rated {e['score']}")

    return run_with_errors(body)


def _pages(bus: Any, data: dict[str, Any], page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every ticket ``ticket.list`` has, page after page (each page starts after the last ticket's id)."""
    after: str | None = None
    while True:
        batch = bus.request("ticket.list", {**data, "limit": page, **({"after": after} if after else {})})
        yield from batch
        if len(batch) < page:
            return
        after = batch[-1]["id"]


def _hall_zone(bus: Any) -> ZoneInfo:
    """The hall's time zone, as the core has it: every time shown to a person is in it."""
    return ZoneInfo(str(bus.request("hall.ping")["timezone"]))


def local_time(iso: str | None, zone: ZoneInfo | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An ISO 8601 time from the core (UTC) as the hall's clock shows it.

    >>> local_time("2026-03-02T02:05:09.000+00:00", ZoneInfo("Asia/Shanghai"))
    '2026-03-02 10:05:09'
    """
    if not iso:
        return "-"
    when = datetime.fromisoformat(iso)
    return (when.astimezone(zone) if zone is not None else when).strftime(fmt)


def _show(t: dict[str, Any], zone: ZoneInfo | None) -> str:
    lines = [_ticket_line(t), f"  issued {local_time(t.get('issued_at'), zone)}"]
    for call in t.get("calls", []):
        passed = ", ".join(f"{p['number']} ({p['waited_s'] // 60} min)" for p in call["passed"]) or "nobody"
        lines.append(
            f"  called at counter {call['counter']} at {local_time(call['at'], zone)}: {call['rule']}:"
            f" {call['detail']}; passed {passed}"
        )
    return "\n".join(lines)


COUNTER_ACTIONS = [
    "open",
    "close",
    "pause",
    "resume",
    "call",
    "recall",
    "serve",
    "transfer",
    "noshow",
    "finish",
    "list",
]


def counter_main(argv: list[str]) -> int:
    p = parser("counter", "Act at a counter: open, call the next customer, finish…")
    sub = p.add_subparsers(dest="cmd", required=True)
    sps: list[argparse.ArgumentParser] = []
    for action in COUNTER_ACTIONS:
        sp = sub.add_parser(action, help=f"{action} (counter.{action})")
        if action != "list":
            sp.add_argument("counter", help="counter id, e.g. 1")
        if action == "open":
            sp.add_argument("--staff", default="", help="account of the staff member signing in (credited)")
            sp.add_argument("--display", default="", help="their name as shown (default: the account)")
        if action == "pause":
            sp.add_argument("reason", help="why the counter pauses")
        if action == "call":
            sp.add_argument("number", nargs="?", help="call this ticket instead of the next")
        if action == "transfer":
            sp.add_argument("--business", help="move the ticket to this business")
            sp.add_argument("--to-counter", help="move the ticket to this counter")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sps.append(sp)
    a = p.parse_args(argv)

    def body() -> None:
        data: dict[str, Any] = {}
        if a.cmd != "list":
            data["counter"] = a.counter
        if a.cmd == "open" and a.staff:
            data["staff"] = a.staff
        if a.cmd == "open" and a.display:
            data["staff_display"] = a.display
        if a.cmd == "pause":
            data["reason"] = a.reason
        if a.cmd == "call" and a.number:
            data["number"] = a.number
        if a.cmd == "transfer":
            data.update({k: v for k, v in (("business", a.business), ("to_counter", a.to_counter)) if v})
        with _bus() as bus:
            out = bus.request(f"counter.{a.cmd}", data)
        emit(out, a.json, _counter_human)

    return run_with_errors(body)


def _counter_human(out: Any) -> str:
    if isinstance(out, list):
        return "\n".join(
            f"{c['id']:<4}{c['name']}  {c['state']}" + (f"  {c['current']['number']}" if c["current"] else "")
            for c in out
        )
    if "number" in out:
        line = _ticket_line(out)
        return line + (f"  ({out['rule']}: {out['detail']})" if "rule" in out else "")
    return f"counter {out['id']} {out['state']}"


def appointment_main(argv: list[str]) -> int:
    p = parser("appointment", "Book or check in appointments.")
    sub = p.add_subparsers(dest="cmd", required=True)
    book = sub.add_parser("book", help="book an appointment")
    book.add_argument("code")
    book.add_argument("business")
    book.add_argument("booked_at", help="ISO time with offset, e.g. 2026-03-02T10:00+08:00")
    book.add_argument("--customer")
    check = sub.add_parser("checkin", help="check in and get a ticket")
    check.add_argument("--code")
    check.add_argument("--customer")
    for sp in (book, check):
        sp.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    def body() -> None:
        data: dict[str, Any] = {}
        cust = _customer(a.customer)
        if cust:
            data["customer"] = cust
        with _bus() as bus:
            if a.cmd == "book":
                data.update({"code": a.code, "business": a.business, "booked_at": a.booked_at})
                emit(bus.request("appointment.book", data), a.json, lambda o: f"booked {o['code']} {o['booked_at']}")
            else:
                if a.code:
                    data["code"] = a.code
                emit(bus.request("appointment.checkin", data), a.json, _ticket_line)

    return run_with_errors(body)


def status_main(argv: list[str]) -> int:
    p = parser("status", "Queues per business, counters, and who is being called.")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    def human(st: dict[str, Any]) -> str:
        lines = [f"{st['hall']['name']}  {st['day']} {st['local_time']}"]
        for b in st["businesses"]:
            lines.append(
                f"  {b['code']} {b['name']:<6} waiting {b['waiting']:>3}  longest {b['longest_wait_s'] // 60} min"
            )
        for c in st["counters"]:
            cur = c["current"]["number"] if c["current"] else "-"
            lines.append(f"  counter {c['id']:<3} {c['state']:<7} {cur}")
        occ = st.get("occupancy")
        if occ:
            said = ", ".join(f"{s['name']} {s['people']:g}" for s in occ["sources"])
            left = f"; {occ['rejected']} left out" if occ["rejected"] else ""
            lines.append(f"  people in the hall: {occ['people']:.0f} ± {occ['sigma']:.0f} ({said}{left})")
        return "\n".join(lines)

    def body() -> None:
        with _bus() as bus:
            st = bus.request("queue.status")
            st["occupancy"] = bus.request("occupancy.get")  # beams, cameras and the queue reconciled
            emit(st, a.json, human)

    return run_with_errors(body)
