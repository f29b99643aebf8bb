"""The printer driver against the simulated printer over a real pty and a real TCP socket."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import DeviceUnavailable
from drivers.printer import ticket
from drivers.printer.printer import Printer, PrinterUnit
from drivers.printer.sim import SimulatedPrinter
from drivers.printer.transport import open_transport
from tests.drivers.conftest_cards import wait_until

DATA = ticket.TicketData("国网示范供电营业厅", "电费缴纳", "A001", 3, 9, "2026-11-25 09:30", ticket_id="t1")
LAYOUT = ticket.Layout(paper=80, qr_url="https://hall.example/q/{number}")


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatedPrinter]:
    printer = SimulatedPrinter(tmp_path / "out", paper=80)
    yield printer
    printer.close()


class Events:
    """A publish callable that records what a unit publishes."""

    def __init__(self) -> None:
        self.q: queue.Queue[tuple[str, dict[str, Any], bool]] = queue.Queue()

    def __call__(self, topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        self.q.put((topic, data, durable))

    def next(self, timeout: float = 10.0) -> tuple[str, dict[str, Any], bool]:
        return self.q.get(timeout=timeout)


def issued(number: str, channel: str = "kiosk") -> dict[str, Any]:
    data = {
        "id": f"id-{number}",
        "number": number,
        "business_name": "电费缴纳",
        "people_ahead": 2,
        "wait_minutes": 6,
        "issued_at": "2026-11-25T01:30:00.000+00:00",
        "priority": "normal",
        "channel": channel,
    }
    return {"topic": "ticket.issued", "data": data}


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_ticket_prints_and_renders_with_a_readable_qr(sim: SimulatedPrinter, transport: str) -> None:
    url = "serial://" + sim.serve_pty() if transport == "pty" else f"tcp://127.0.0.1:{sim.serve_tcp()}"
    printer = Printer(open_transport(url))
    try:
        status = printer.status()
        assert status is not None and status.ready
        printer.write(ticket.render(DATA, LAYOUT))
        assert sim.wait_pages(1, 10)
    finally:
        printer.close()
    page = sim.pages[0]
    assert "A001" in page.text and "国网示范供电营业厅" in page.text and "您前面还有 3 人" in page.text
    assert page.qr == [b"https://hall.example/q/A001"]
    png = sim.printed[0]
    import zxingcpp
    from PIL import Image

    with Image.open(png) as img:
        assert img.width == 576 + 32
        found = zxingcpp.read_barcodes(img)
    assert [b.text for b in found] == ["https://hall.example/q/A001"]
    assert "A001" in png.with_suffix(".txt").read_text(encoding="utf-8")


def test_the_simulated_printer_keeps_printing_when_it_cannot_save_pictures(tmp_path: Path) -> None:
    (tmp_path / "full").write_text("")  # its folder cannot be made, as on a full disk
    sim = SimulatedPrinter(tmp_path / "full" / "out", paper=80)
    printer = Printer(open_transport("serial://" + sim.serve_pty()))
    try:
        printer.write(ticket.render(DATA, LAYOUT))
        printer.write(ticket.render(DATA, LAYOUT))
        assert sim.wait_pages(2, 10) and sim.unsaved == 2 and sim.printed == []
        status = printer.status()  # the simulated peer still answers
        assert status is not None and status.ready
    finally:
        printer.close()
        sim.close()


def test_status_follows_paper_and_cover(sim: SimulatedPrinter) -> None:
    printer = Printer(open_transport("serial://" + sim.serve_pty()))
    try:
        sim.set_state(paper_near_end=True)
        st = printer.status()
        assert st is not None and st.ready and st.paper_near_end
        sim.set_state(paper_out=True)
        st = printer.status()
        assert st is not None and not st.ready and st.reason == "paper_out"
        sim.set_state(paper_out=False, paper_near_end=False, cover_open=True)
        st = printer.status()
        assert st is not None and st.reason == "cover_open"
    finally:
        printer.close()


def test_unit_prints_kiosk_tickets_and_reports_failures(sim: SimulatedPrinter) -> None:
    url = "serial://" + sim.serve_pty()
    unit = PrinterUnit("printer", url, LAYOUT, hall_name="营业厅", channels=("kiosk",), status_interval=0.2)
    events = Events()
    unit.start(events)
    try:
        unit.on_event(issued("A001", channel="panel"))  # not a printing channel: ignored
        unit.on_event(issued("A002"))
        assert events.next() == ("printer.printed", {"ticket_id": "id-A002", "number": "A002"}, False)
        assert sim.wait_pages(1, 5) and "A002" in sim.pages[0].text and len(sim.pages) == 1
        assert "取号时间 2026-11-25 09:30" in sim.pages[0].text  # the core's UTC time, in the hall's zone
        assert unit.health().state == "ok"

        sim.set_state(paper_out=True)
        unit.on_event(issued("A003"))
        assert events.next() == (
            "printer.failed",
            {"ticket_id": "id-A003", "number": "A003", "reason": "paper_out"},
            False,
        )
        health = unit.health()
        assert health.state == "fault" and "paper_out" in health.detail
        assert health.counters["printed"] == 1 and health.counters["failed"] == 1

        sim.set_state(paper_out=False, paper_near_end=True)
        unit.on_event(issued("A004"))
        assert events.next()[0] == "printer.printed"
        assert unit.health().state == "degraded" and unit.health().detail == "paper_near_end"
    finally:
        unit.stop()


def test_unit_reports_offline_and_reopens_when_the_printer_returns(tmp_path: Path) -> None:
    first = SimulatedPrinter(tmp_path / "a", render=False)
    port = first.serve_tcp()
    unit = PrinterUnit("printer", f"tcp://127.0.0.1:{port}", LAYOUT, hall_name="营业厅", status_interval=0.1)
    events = Events()
    unit.start(events)
    try:
        unit.on_event(issued("A001"))
        assert events.next()[0] == "printer.printed"
        first.close()  # the printer goes away
        unit.on_event(issued("A002"))
        topic, data, _ = events.next()
        assert topic == "printer.failed" and data["number"] == "A002" and data["reason"] == "offline"
        assert unit.health().state == "offline"
        second = SimulatedPrinter(tmp_path / "b", render=False)
        second.serve_tcp(port=port)  # and comes back on the same address
        try:
            unit.on_event(issued("A003"))
            while (got := events.next())[0] != "printer.printed":
                assert got[1]["number"] == "A003"  # failed while still backing off; keep waiting
                unit.on_event(issued("A003"))
            assert second.wait_pages(1, 5) and "A003" in second.pages[0].text
            assert unit.health().state == "ok" and unit.health().counters["reopened"] >= 1
        finally:
            second.close()
    finally:
        unit.stop()


def test_a_printer_that_never_answers_status_is_degraded_and_still_prints(tmp_path: Path) -> None:
    silent = SimulatedPrinter(tmp_path / "out", render=False, answers_status=False)
    url = f"tcp://127.0.0.1:{silent.serve_tcp()}"
    unit = PrinterUnit("printer", url, LAYOUT, hall_name="营业厅", status_interval=0.1, status_timeout=0.1, probe_s=0.3)
    events = Events()
    unit.start(events)
    try:
        assert wait_until(lambda: unit.health().state == "degraded")
        assert unit.health().detail.startswith("no status:") and silent.status_asked >= 3
        unit.on_event(issued("A001"))
        assert events.next() == ("printer.printed", {"ticket_id": "id-A001", "number": "A001"}, False)
        assert silent.wait_pages(1, 5) and "A001" in silent.pages[0].text
        silent.answers_status = True  # it was only switched off: asked again, it answers
        assert wait_until(lambda: unit.health().state == "ok")
        silent.answers_status = False  # it answered once: silence now means it is gone
        assert wait_until(lambda: unit.health().state == "offline")
        unit.on_event(issued("A002"))
        assert events.next()[1] == {"ticket_id": "id-A002", "number": "A002", "reason": "offline"}
    finally:
        unit.stop()
        silent.close()


def test_a_printer_configured_without_status_is_never_asked(tmp_path: Path) -> None:
    silent = SimulatedPrinter(tmp_path / "out", render=False, answers_status=False)
    url = f"tcp://127.0.0.1:{silent.serve_tcp()}"
    unit = PrinterUnit("printer", url, LAYOUT, hall_name="营业厅", status="no", status_interval=0.05)
    events = Events()
    unit.start(events)
    try:
        unit.on_event(issued("A001"))
        assert events.next() == ("printer.printed", {"ticket_id": "id-A001", "number": "A001"}, False)
        assert silent.wait_pages(1, 5)
        health = unit.health()
        assert health.state == "ok" and "paper out is not seen" in health.detail
        assert silent.status_asked == 0
    finally:
        unit.stop()
        silent.close()


def test_file_transport_writes_the_stream_without_status(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    printer = Printer(open_transport(f"file://{path}"))
    assert printer.status() is None
    printer.write(ticket.render(DATA, LAYOUT))
    printer.close()
    assert path.read_bytes() == ticket.render(DATA, LAYOUT)


@pytest.mark.parametrize(
    ("url", "error", "message"),
    [
        ("lpt://1", ValueError, "unknown scheme"),
        ("usb://zz", ValueError, "VVVV:PPPP"),
        ("usb://04b8:0e15", DeviceUnavailable, "usb://04b8:0e15"),
        ("serial:///dev/does-not-exist", DeviceUnavailable, "/dev/does-not-exist"),
        ("tcp://127.0.0.1:1", DeviceUnavailable, "tcp://127.0.0.1:1"),
    ],
)
def test_bad_or_absent_printers_are_named(url: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        open_transport(url)


def test_odd_ticket_text_never_stops_the_printer(sim: SimulatedPrinter) -> None:
    unit = PrinterUnit("printer", "serial://" + sim.serve_pty(), LAYOUT, hall_name="营业厅", status_interval=0.2)
    events = Events()
    unit.start(events)
    try:
        odd = issued("A001")
        odd["data"]["business_name"] = "电费\x1b@缴纳\x1d"  # a bundle's name with ESC/POS control bytes in it
        unit.on_event(odd)
        assert events.next() == ("printer.printed", {"ticket_id": "id-A001", "number": "A001"}, False)
        assert sim.wait_pages(1, 5) and "电费@缴纳" in sim.pages[0].text
        huge = issued("A002")
        huge["data"]["number"] = "A" * 8000  # its QR link would not fit in a QR code
        unit.on_event(huge)
        topic, data, _ = events.next()
        assert (topic, data["reason"]) == ("printer.failed", "unprintable")
        unit.on_event(issued("A003"))
        assert events.next() == ("printer.printed", {"ticket_id": "id-A003", "number": "A003"}, False)
        assert unit.health().state == "ok" and unit.health().counters["restarts"] == 0
    finally:
        unit.stop()


def test_paper_out_is_a_fault_that_clears_when_the_paper_is_back(sim: SimulatedPrinter) -> None:
    unit = PrinterUnit("printer", "serial://" + sim.serve_pty(), LAYOUT, hall_name="营业厅", status_interval=0.05)
    unit.start(Events())
    try:
        assert wait_until(lambda: unit.health().state == "ok")
        sim.set_state(paper_out=True)
        assert wait_until(lambda: unit.health().state == "fault")
        assert unit.health().detail.startswith("paper_out")
        sim.set_state(paper_out=False)
        assert wait_until(lambda: unit.health().state == "ok")
        assert unit.health().detail == ""
    finally:
        unit.stop()


def test_a_printer_pty_closed_goes_offline_and_is_reopened(sim: SimulatedPrinter, tmp_path: Path) -> None:
    url = "serial://" + sim.serve_pty(link=tmp_path / "ttyPRN")
    unit = PrinterUnit("printer", url, LAYOUT, hall_name="营业厅", status_interval=0.05)
    events = Events()
    unit.start(events)
    try:
        assert wait_until(lambda: unit.health().state == "ok")
        with pytest.raises(DeviceUnavailable, match="in use by another program"):
            open_transport(url)  # a field check while the service prints: told, not fighting over the port
        sim.unplug_pty()
        assert wait_until(lambda: unit.health().state == "offline"), unit.health()
        assert "ttyPRN" in unit.health().detail
        unit.on_event(issued("A001"))
        topic, data, _ = events.next()
        assert (topic, data["reason"]) == ("printer.failed", "offline")
        sim.replug_pty()
        assert wait_until(lambda: unit.health().state == "ok", 15), unit.health()
        unit.on_event(issued("A002"))
        assert events.next()[1]["number"] == "A002"
        assert sim.wait_pages(1, 5) and "A002" in sim.pages[-1].text
        assert unit.health().counters["reopened"] >= 1
    finally:
        unit.stop()


def test_unit_prints_the_slip_of_a_repair_report_with_the_phone_masked(sim: SimulatedPrinter) -> None:
    unit = PrinterUnit("printer", "serial://" + sim.serve_pty(), LAYOUT, hall_name="营业厅", status_interval=0.2)
    events = Events()
    unit.start(events)
    try:
        report = {"reference": "BX-261125-003", "kind": "no_power", "phone": "13800138000", "address": "示范路 8 号",
                  "reported_at": "2026-11-25T01:30:00+00:00", "photos": [], "description": "整栋楼没电"}  # fmt: skip
        unit.on_event({"topic": "repair.reported", "data": report})
        assert events.next() == ("printer.printed", {"repair": "BX-261125-003"}, False)
        assert sim.wait_pages(1, 5)
        text = "\n".join(sim.pages[0].text)
        assert "BX-261125-003" in text and "故障类型：家中停电" in text and "联系电话：138****8000" in text
        assert "报修时间：2026-11-25 09:30" in text  # the hall's clock
        assert "13800138000" not in text
    finally:
        unit.stop()
