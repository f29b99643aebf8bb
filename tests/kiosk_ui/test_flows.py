"""Every customer flow, by simulated touches on the offscreen kiosk, against a real core on a real bus.

Each test checks what the customer reads on the screen and what the core recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edge.bus import BusClient
from kiosk_ui.drive import find, tap, text, texts, until
from kiosk_ui.tours import card_event
from tests.conftest import CoreProcess
from tests.kiosk_ui.conftest import FakeClock

pytestmark = pytest.mark.process

ELDER = {"name": "张三", "number": "11010519491231002X"}
YOUNG = {"name": "李四", "number": "110101199003071233"}

MakeKiosk = Callable[..., Any]
Publish = Callable[[str, dict[str, Any]], None]


def tap_card(
    publish: Publish, core: CoreProcess, *, elderly: bool = False, who: dict[str, str] = ELDER
) -> dict[str, Any]:
    data = card_event(core.home, elderly=elderly, **who)
    publish("card.id.read", data)
    return data


def test_attract_shows_the_hall_and_waiting_counts(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    kiosk = make_kiosk()
    assert "国网示范供电营业厅" in texts(kiosk)
    assert "电费缴纳  0 人" in texts(kiosk)
    bus.request("ticket.issue", {"business": "A", "channel": "counter"})
    bus.request("ticket.issue", {"business": "A", "channel": "counter"})
    until(lambda: "电费缴纳  2 人" in texts(kiosk), what="the new waiting count")
    bus.request("counter.open", {"counter": "1"})
    bus.request("counter.call", {"counter": "1"})
    until(lambda: "请 A001 号到 1号窗口" in texts(kiosk), what="the call on the attract screen")


def test_take_a_ticket_without_a_card(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    kiosk = make_kiosk()
    tap(kiosk, "attract.take")
    assert kiosk.screen == "businesses"
    assert "可在读卡区刷身份证" in text(kiosk, "identify.hint")
    tap(kiosk, "biz.B")
    until(lambda: kiosk.screen == "ticket", what="the ticket")
    assert text(kiosk, "ticket.number") == "B001"
    assert text(kiosk, "ticket.ahead") == "前面还有 0 人"
    assert text(kiosk, "ticket.wait") == "暂无窗口开放办理此业务\n窗口开放后即可办理"
    tickets = bus.request("ticket.list", {})
    assert [(t["number"], t["priority"], t["customer"]) for t in tickets] == [("B001", "normal", None)]


def test_the_ticket_says_when_no_counter_serving_the_business_is_open(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    for _ in range(2):
        bus.request("ticket.issue", {"business": "B", "channel": "counter"})
    kiosk = make_kiosk()
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.B")
    until(lambda: kiosk.screen == "ticket", what="the ticket")
    # B: 15 min each, counter 3 alone has it as primary skill: 2 ahead × 15 min / 1 counter
    assert text(kiosk, "ticket.wait") == "暂无窗口开放办理此业务\n窗口开放后预计等候约 30 分钟"
    tap(kiosk, "ticket.done")
    bus.request("counter.open", {"counter": "3"})
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.B")
    until(lambda: kiosk.screen == "ticket" and text(kiosk, "ticket.number") == "B004", what="the second ticket")
    assert text(kiosk, "ticket.wait") == "预计等候约 45 分钟"


def test_card_tap_identifies_and_elderly_get_the_green_channel(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    kiosk = make_kiosk()
    card = tap_card(publish, core, elderly=True)
    until(lambda: kiosk.screen == "businesses", what="the card tap")
    assert text(kiosk, "identified") == f"已识别：张* {card['customer']['masked']}"
    tap(kiosk, "biz.A")
    until(lambda: kiosk.screen == "ticket", what="the ticket")
    assert "绿色通道" in texts(kiosk)
    # The next card on the ticket screen starts a new visit. 咨询 (D) has no green channel: a normal ticket.
    tap_card(publish, core, elderly=True)
    until(lambda: kiosk.screen == "businesses", what="the second card tap")
    assert kiosk.visit.ticket is None
    tap(kiosk, "biz.D")
    until(lambda: kiosk.screen == "ticket", what="the D ticket")
    got = {t["number"]: t for t in bus.request("ticket.list", {})}
    assert got["A001"]["priority"] == "green" and got["D001"]["priority"] == "normal"
    assert got["A001"]["customer"]["hash"] == card["customer"]["hash"]


def test_printer_outcome_is_shown_with_the_number(make_kiosk: MakeKiosk, publish: Publish) -> None:
    kiosk = make_kiosk()
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.A")
    until(lambda: kiosk.visit.ticket is not None, what="the ticket")
    ticket = kiosk.visit.ticket
    assert text(kiosk, "ticket.print") == "正在打印小票…"
    publish("printer.failed", {"ticket_id": ticket["id"], "number": ticket["number"], "reason": "paper_out"})
    until(lambda: kiosk.visit.print_state == "failed", what="the printer failure")
    assert "打印机暂时无法出票" in text(kiosk, "ticket.print")
    assert text(kiosk, "ticket.number") == "A001"
    tap(kiosk, "nav.home")
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.A")
    until(lambda: kiosk.visit.ticket is not None, what="the second ticket")
    second = kiosk.visit.ticket
    publish("printer.printed", {"ticket_id": second["id"], "number": second["number"]})
    until(lambda: text(kiosk, "ticket.print") == "请取走下方打印的小票", what="the printed note")


def test_printer_silence_is_said_after_the_print_wait(make_kiosk: MakeKiosk) -> None:
    kiosk = make_kiosk(print_wait_s=1)
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.C")
    until(lambda: kiosk.visit.print_state == "unknown", what="the print wait to lapse")
    assert text(kiosk, "ticket.print") == "小票未能确认打印，请记住您的号码"


def test_appointment_by_code_and_by_card(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    now = datetime.now(UTC).isoformat()
    bus.request("appointment.book", {"code": "4821", "business": "B", "booked_at": now})
    kiosk = make_kiosk()
    tap(kiosk, "attract.appointment")
    for digit in "9999":
        tap(kiosk, f"appt.{digit}")
    tap(kiosk, "appt.ok")
    until(lambda: kiosk.message is not None, what="the refusal")
    assert "没有找到该预约" in texts(kiosk)
    for digit in "4821":
        tap(kiosk, f"appt.{digit}")
    assert text(kiosk, "appt.code") == "预约码：4821"
    tap(kiosk, "appt.ok")
    until(lambda: kiosk.screen == "ticket", what="the appointment ticket")
    assert text(kiosk, "ticket.number") == "B001" and "预约优先" in texts(kiosk)
    # by ID card
    card = card_event(core.home, elderly=False, **YOUNG)
    bus.request("appointment.book", {"code": "7777", "business": "C", "booked_at": now, "customer": card["customer"]})
    tap(kiosk, "nav.home")
    tap(kiosk, "attract.appointment")
    publish("card.id.read", card)
    until(lambda: kiosk.screen == "ticket", what="the card check-in")
    assert text(kiosk, "ticket.number") == "C001"
    shown = bus.request("ticket.show", {"number": "C001"})
    assert shown["appointment"] == "7777" and shown["customer"]["hash"] == card["customer"]["hash"]


def test_language_toggle(make_kiosk: MakeKiosk) -> None:
    kiosk = make_kiosk()
    tap(kiosk, "lang")
    assert "Take a ticket" in texts(kiosk) and "取号" not in texts(kiosk)
    tap(kiosk, "attract.take")
    assert find(kiosk, "biz.A").text == "Bill payment"
    tap(kiosk, "lang")
    assert find(kiosk, "biz.A").text == "电费缴纳"


def test_every_flow_times_out_back_to_attract(make_kiosk: MakeKiosk, core: CoreProcess, publish: Publish) -> None:
    clock = FakeClock()
    kiosk = make_kiosk(clock=clock, idle_timeout_s=30)
    tap_card(publish, core)
    until(lambda: kiosk.screen == "businesses", what="the card tap")
    clock.advance(20)
    tap(kiosk, "biz.green")  # a touch restarts the wait
    clock.advance(20)
    until(lambda: True)
    assert kiosk.screen == "businesses"
    clock.advance(11)
    until(lambda: kiosk.screen == "attract", what="the idle timeout")
    assert kiosk.visit.customer is None and "已识别" not in texts(kiosk)


def test_core_unreachable_is_said_politely_and_recovers(make_kiosk: MakeKiosk, core: CoreProcess) -> None:
    kiosk = make_kiosk()
    tap(kiosk, "attract.take")
    core.kill9()
    tap(kiosk, "biz.A")
    until(lambda: kiosk.screen == "offline", what="the offline screen")
    assert text(kiosk, "offline.title") == "系统连接中，请稍候"
    until(lambda: kiosk.offline_tries >= 1, what="a retry")
    core.start()
    until(lambda: kiosk.screen == "attract", timeout=60, what="the kiosk to come back")
    assert "取号" in texts(kiosk)


def test_ic_card_identifies_and_other_readers_are_ignored(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    from edge.identity import load_key, make_ref

    kiosk = make_kiosk(card_readers=["kiosk-ic"])
    ref = make_ref("ic", "3301-0042-7788", key=load_key(core.home.secret_path)).to_dict()
    publish("card.ic.read", {"reader": "counter-3-ic", "customer": ref})  # another desk's reader
    publish("card.ic.read", {"reader": "kiosk-ic", "customer": ref})
    until(lambda: kiosk.screen == "businesses", what="this kiosk's card tap")
    assert text(kiosk, "identified") == f"已识别：{ref['masked']}"
    tap(kiosk, "biz.C")
    until(lambda: kiosk.screen == "ticket", what="the ticket")
    [ticket] = bus.request("ticket.list", {})
    assert ticket["customer"] == ref and ticket["priority"] == "normal"


def test_businesses_from_hq_bundle_reach_the_tiles(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    bundle = {
        "version": 7,
        "published_at": datetime.now(UTC).isoformat(),
        "businesses": [
            {"code": "A", "name": "电费缴纳", "name_en": "Bill payment"},
            {"code": "E", "name": "发票打印", "name_en": "Invoices"},
        ],
        "counters": [{"id": "1", "name": "1号窗口", "primary": ["A", "E"]}],
    }
    kiosk = make_kiosk()
    assert bus.request("bundle.apply", {"bundle": bundle})["applied"]
    until(lambda: [b.code for b in kiosk.businesses()] == ["A", "E"], what="HQ's businesses")
    assert "发票打印  0 人" in texts(kiosk)
    tap(kiosk, "attract.take")
    tap(kiosk, "biz.E")
    until(lambda: kiosk.screen == "ticket", what="the E ticket")
    assert text(kiosk, "ticket.number") == "E001"
    assert "biz.B" not in {getattr(w, "kid", "") for w in kiosk.walk()}


@pytest.fixture
def box_in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The box's own zone is not the hall's (Asia/Shanghai)."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_clock_shows_the_halls_time_not_the_boxs(make_kiosk: MakeKiosk, box_in_los_angeles: None) -> None:
    kiosk = make_kiosk()
    shown = kiosk.clock_label.text

    def reads(zone: str) -> bool:
        now = datetime.now(ZoneInfo(zone))
        return shown in {(now + timedelta(minutes=d)).strftime("%H:%M") for d in (-1, 0, 1)}

    assert reads("Asia/Shanghai") and not reads("America/Los_Angeles"), shown
