"""What the printed ticket says: when no counter serving the business is open yet, and the time on the hall's clock."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from drivers.printer import ticket
from drivers.printer.interpreter import Interpreter
from drivers.printer.printer import PrinterUnit
from drivers.printer.sim import SimulatedPrinter


def _printed(data: ticket.TicketData) -> list[str]:
    it = Interpreter()
    it.feed(ticket.render(data, ticket.Layout(paper=80)))
    return list(it.pages[0].text)


def test_no_counter_open_yet_is_printed_with_the_wait_from_opening() -> None:
    lines = _printed(
        ticket.TicketData(
            "营业厅", "业扩报装", "B003", 2, None, "2026-11-25 10:00", counters_open=0, wait_after_opening=30
        )
    )
    assert "暂无窗口开放办理此业务" in lines
    assert "窗口开放后预计等候约 30 分钟" in lines
    assert not any(line.startswith("预计等候约") for line in lines)
    first = _printed(
        ticket.TicketData(
            "营业厅", "业扩报装", "B001", 0, None, "2026-11-25 10:00", counters_open=0, wait_after_opening=0
        )
    )
    assert "窗口开放后即可办理" in first


def test_an_open_counter_gives_the_plain_estimate() -> None:
    lines = _printed(ticket.TicketData("营业厅", "电费缴纳", "A007", 1, 3, "2026-11-25 10:00", counters_open=1))
    assert "预计等候约 3 分钟" in lines and "暂无窗口开放办理此业务" not in lines


def test_the_printer_unit_prints_what_the_core_said_about_the_wait(tmp_path: Path) -> None:
    """``ticket.issued`` as the core sends it when no counter serving B is open: the page says so."""
    sim = SimulatedPrinter(tmp_path / "out", paper=80)
    unit = PrinterUnit("printer", "serial://" + sim.serve_pty(), ticket.Layout(paper=80), hall_name="营业厅")
    published: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    unit.start(lambda topic, data, *, durable=True: published.put((topic, data)))
    try:
        data = {
            "id": "t1",
            "number": "B003",
            "business_name": "业扩报装",
            "people_ahead": 2,
            "counters_open": 0,
            "wait_minutes": None,
            "wait_minutes_after_opening": 30,
            "issued_at": "2026-11-25T01:30:00.000+00:00",
            "priority": "normal",
            "channel": "kiosk",
        }
        unit.on_event({"topic": "ticket.issued", "data": data})
        assert published.get(timeout=10)[0] == "printer.printed"
        assert sim.wait_pages(1, 5)
        assert "暂无窗口开放办理此业务" in sim.pages[0].text
        assert "窗口开放后预计等候约 30 分钟" in sim.pages[0].text
    finally:
        unit.stop()
        sim.close()


def on_the_clock_of(shown: str, zone: str, fmt: str) -> bool:
    """Whether ``shown`` is what a clock in ``zone`` reads now (give or take the minute it took)."""
    now = datetime.now(ZoneInfo(zone))
    return shown in {(now + timedelta(minutes=d)).strftime(fmt) for d in (-1, 0, 1)}


def test_printer_test_prints_the_time_of_the_hall_not_of_the_box(tmp_path: Path) -> None:
    sim = SimulatedPrinter(tmp_path / "out", paper=80)
    port = sim.serve_tcp()
    try:
        env = {**os.environ, "HALL_HOME": str(tmp_path / "home"), "TZ": "America/Los_Angeles"}  # hall: Asia/Shanghai
        env.pop("HALL_DEMO", None)
        argv = [sys.executable, "-m", "edge", "devices", "printer", "test", "--url", f"tcp://127.0.0.1:{port}"]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert sim.wait_pages(1, 10)
        (when,) = re.findall(r"取号时间 (\d{4}-\d{2}-\d{2} \d{2}:\d{2})", "\n".join(sim.pages[0].text))
        assert on_the_clock_of(when, "Asia/Shanghai", "%Y-%m-%d %H:%M")
        assert not on_the_clock_of(when, "America/Los_Angeles", "%Y-%m-%d %H:%M")
    finally:
        sim.close()
