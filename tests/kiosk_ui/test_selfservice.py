"""Look-ups from HQ's bundle, the repair form, rating at a counter, face-recognition consent, elderly mode, the PIN."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

import kiosk_ui
from edge.bus import BusClient, Endpoints, Subscriber
from edge.paths import Home
from kiosk_ui.drive import find, tap, text, texts, until
from kiosk_ui.sample import load_sample
from kiosk_ui.tours import card_event
from tests.conftest import CoreProcess
from tests.kiosk_ui.conftest import FakeClock

pytestmark = pytest.mark.process

ELDER = {"name": "张三", "number": "11010519491231002X"}
MakeKiosk = Callable[..., Any]
Publish = Callable[[str, dict[str, Any]], None]


def kiosk_events(bus: BusClient, prefix: str) -> list[dict[str, Any]]:
    return [e for e in bus.request("events.since", {"seq": 0, "prefix": prefix}) if e["source"] == "kiosk"]


def test_bills_usage_and_freshness_for_an_identified_customer(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    assert load_sample(bus, Home(core.home.root))
    kiosk = make_kiosk()
    tap(kiosk, "attract.lookup")
    assert kiosk.screen == "lookup"
    tap(kiosk, "lookup.bill")
    assert "请先刷卡识别身份" in texts(kiosk) and kiosk.screen == "lookup"
    publish("card.id.read", card_event(core.home, elderly=True, **ELDER))
    until(lambda: kiosk.lookup.found is not None, what="the customer's bundle data")
    until(lambda: "2026-11-24 18:00" in text(kiosk, "fresh"), what="the bundle's date")
    tap(kiosk, "lookup.bill")
    assert text(kiosk, "bill.2026-10") == "2026-10   ¥186.50"
    assert "未缴  截止 2026-11-30" in texts(kiosk) and "已缴清" in texts(kiosk)
    tap(kiosk, "nav.back")
    tap(kiosk, "lookup.usage")
    # the latest month with daily figures is a calendar, each day coloured by its kWh
    sample = json.loads((Path(kiosk_ui.__file__).parent / "sample_bundle.json").read_text(encoding="utf-8"))
    month = max(
        (u for u in sample["usage"] if u["customer"] == "id:" + ELDER["number"] and u.get("days")),
        key=lambda u: u["period"],
    )
    days = month["days"]
    peak, low = days.index(max(days)) + 1, days.index(min(days)) + 1
    assert text(kiosk, f"usage.day.{peak}") == f"{peak}\n{max(days):.1f}"
    assert sum(find(kiosk, f"usage.day.{peak}").parent.fill[:3]) < sum(find(kiosk, f"usage.day.{low}").parent.fill[:3])
    assert f"本月共 {sum(days):.0f} 度；{peak} 日用电最多" in text(kiosk, "usage.daily.legend")


def test_outage_notices_by_area_without_a_card(make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess) -> None:
    load_sample(bus, Home(core.home.root))
    kiosk = make_kiosk()
    tap(kiosk, "attract.lookup")
    tap(kiosk, "lookup.outage")
    tap(kiosk, "outage.area.0")
    until(lambda: kiosk.lookup.outages is not None, what="the outage look-up")
    assert "解放路1—88号停电" in text(kiosk, "outage.PL-20261128-01")
    assert "2026-11-28 08:00 至 2026-11-28 12:00" in texts(kiosk)
    tap(kiosk, "outage.area.2")
    until(lambda: kiosk.lookup.outages == [], what="the second look-up")
    assert text(kiosk, "outage.none") == "示范市城西区建设路：近期没有停电安排"


def test_an_identified_customer_sees_the_outages_at_their_supply_address(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    load_sample(bus, Home(core.home.root))
    kiosk = make_kiosk()
    tap(kiosk, "attract.lookup")
    publish("card.id.read", card_event(core.home, elderly=True, **ELDER))
    until(lambda: kiosk.lookup.found is not None, what="the customer's bundle data")
    assert "示范市城东区解放路36号" not in str(kiosk.lookup.found)  # the address stays with the core
    tap(kiosk, "lookup.outage")
    assert "解放路1—88号停电" in text(kiosk, "outage.PL-20261128-01")
    assert "您的用电地址近期的停电安排" in texts(kiosk)
    assert "FT-20261125-07" not in str(kiosk.lookup.found["outages"])  # another district's outage


def test_a_repair_report_gets_a_reference_and_the_customer_finds_it_with_hqs_answer(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    kiosk = make_kiosk(kiosk_id="hall-kiosk-2")
    tap(kiosk, "attract.lookup")
    card = card_event(core.home, elderly=False, **ELDER)
    publish("card.id.read", card)
    until(lambda: kiosk.visit.customer is not None, what="the card")
    tap(kiosk, "lookup.repair")
    tap(kiosk, "repair.key.ok")  # nothing chosen yet: nothing sent
    assert kiosk.screen == "repair" and "请选择故障类型和所在区域" in texts(kiosk)
    tap(kiosk, "repair.kind.flicker")
    tap(kiosk, "repair.area.3")
    for digit in "1380013":  # too short for a phone number
        tap(kiosk, f"repair.key.{digit}")
    tap(kiosk, "repair.key.ok")
    assert kiosk.screen == "repair" and "请输入 11 位手机号或带区号的固定电话" in texts(kiosk)
    for digit in "8000":
        tap(kiosk, f"repair.key.{digit}")
    assert text(kiosk, "repair.phone") == "13800138000"
    tap(kiosk, "repair.key.ok")
    until(lambda: kiosk.screen == "repair_sent", what="the reference number")
    reference = text(kiosk, "repair.reference")
    assert reference.startswith("BX-") and reference.endswith("-001")
    assert "138****8000" in texts(kiosk)
    # the devices service prints the slip and says so
    bus.request("event.publish", {"topic": "printer.printed", "data": {"repair": reference}, "durable": False})
    until(lambda: text(kiosk, "repair.slip") == "回执已打印，请取走", what="the slip printed")
    [event] = bus.request("events.since", {"seq": 0, "prefix": "repair.reported"})
    assert event["source"] == "core" and event["data"]["reference"] == reference
    assert (event["data"]["kind"], event["data"]["area"], event["data"]["phone"]) == (
        "flicker", "示范市高新区科技园", "13800138000")  # fmt: skip
    assert event["data"]["customer"] == {"kind": "id", "hash": card["customer"]["hash"],
                                         "masked": card["customer"]["masked"]}  # fmt: skip

    # HQ's crew answers (as the sync agent hands it on); the customer looks the report up by card
    bus.request("repair.update", {"reference": reference, "update_id": 1, "state": "dispatched",
                                  "note": "抢修车已出发，约 30 分钟到达", "at": "2026-11-25T02:00:00+00:00"})  # fmt: skip
    tap(kiosk, "nav.back")
    tap(kiosk, "lookup.myrepair")
    until(lambda: bool(kiosk.repair.mine), what="the customer's reports")
    assert text(kiosk, f"myrepair.{reference}") == f"{reference}   已派单"
    assert text(kiosk, f"myrepair.note.{reference}") == "抢修车已出发，约 30 分钟到达"
    # and anyone with the slip finds it by its number
    kiosk.home()
    tap(kiosk, "attract.lookup")
    tap(kiosk, "lookup.myrepair")
    for digit in reference[3:].replace("-", ""):
        tap(kiosk, f"myrepair.key.{digit}")
    assert text(kiosk, "myrepair.typed") == reference
    tap(kiosk, "myrepair.key.ok")
    until(lambda: bool(kiosk.repair.mine), what="the report by its number")
    assert text(kiosk, f"myrepair.{reference}") == f"{reference}   已派单"


def _finish_one(bus: BusClient, counter: str, business: str = "A") -> str:
    bus.request("counter.open", {"counter": counter})
    bus.request("ticket.issue", {"business": business, "channel": "counter"})
    bus.request("counter.call", {"counter": counter})
    return str(bus.request("counter.finish", {"counter": counter})["number"])


def test_rating_at_the_counters_pad(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    kiosk = make_kiosk(evaluation_counter="1")
    number = _finish_one(bus, "1")
    until(lambda: kiosk.screen == "evaluation", what="the rating question")
    assert text(kiosk, "eval.title") == f"请为 {number} 号的服务评分"
    tap(kiosk, "eval.star.2")
    tap(kiosk, "eval.reason.slow")
    tap(kiosk, "eval.reason.unclear")
    tap(kiosk, "eval.reason.unclear")  # a second touch takes it back
    tap(kiosk, "eval.submit")
    until(lambda: kiosk.screen == "done", what="the thanks")
    assert text(kiosk, "done") == "感谢您的评价！"
    assert bus.request("ticket.show", {"number": number})["evaluation"] == {"score": 2, "reasons": ["slow"]}


def test_rating_times_out_without_recording_and_other_counters_are_ignored(
    make_kiosk: MakeKiosk, bus: BusClient
) -> None:
    clock = FakeClock()
    kiosk = make_kiosk(clock=clock, evaluation_counter="3", evaluation_timeout_s=20)
    _finish_one(bus, "1")  # counter 1 is not this pad's
    number = _finish_one(bus, "3", "B")
    until(lambda: kiosk.screen == "evaluation", what="the rating question")
    assert kiosk.rating.number == number
    clock.advance(21)
    until(lambda: kiosk.screen == "attract", what="the rating to time out")
    assert bus.request("ticket.show", {"number": number})["evaluation"] is None


def test_consent_is_per_purpose_recorded_and_the_vision_service_answers_the_enrolment(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    from tests.kiosk_ui.conftest import FakeClock

    clock = FakeClock()
    kiosk = make_kiosk(clock=clock, kiosk_id="k1", face_wait_s=30)
    tap(kiosk, "attract.face")
    assert text(kiosk, "consent.gate") == "请在读卡区刷身份证"
    card = card_event(core.home, elderly=False, **ELDER)
    publish("card.id.read", card)
    until(lambda: kiosk.visit.customer is not None, what="the card")
    # the retention said is the hall's one setting, the one the gallery deletes by ([faces] retention_days)
    assert "最后一次使用后180天未再使用即自动删除" in text(kiosk, "consent.retention")
    yes, no = find(kiosk, "consent.yes"), find(kiosk, "consent.no")
    assert tuple(yes.size) == tuple(no.size) and yes.fill == no.fill  # equal ease
    # the purposes the hall uses faces for, none chosen beforehand; VIP arrival only for a customer HQ tags VIP
    purposes = sorted(w.kid for w in kiosk.walk() if str(getattr(w, "kid", "")).startswith("consent.purpose."))
    assert purposes == ["consent.purpose.ticket"]
    tap(kiosk, "consent.yes")
    assert text(kiosk, "message") == "请先点选要同意的用途" and kiosk_events(bus, "consent.") == []
    tap(kiosk, "consent.purpose.ticket")
    tap(kiosk, "consent.yes")
    until(lambda: kiosk.screen == "face_look", what="the enrolment's prompts")
    assert text(kiosk, "face.step") == "请正对摄像头，保持不动"
    events = kiosk_events(bus, "")
    assert [(e["topic"], e["data"]["decision"], e["data"]["purposes"]) for e in events] == [
        ("consent.recorded", "granted", ["ticket"])
    ]
    assert events[0]["data"]["customer"] == card["customer"]  # kind, keyed hash, masked card and name
    request = events[0]["data"]["request"]
    # the camera's prompts and answer for another kiosk, or another request, are not this customer's
    publish("face.progress", {"kiosk": "k1", "request": request, "step": "blink"})
    until(lambda: kiosk.face.step == "blink", what="the blink prompt")
    assert text(kiosk, "face.step") == "请眨眨眼"
    publish("face.enrolled", {"customer": card["customer"]["masked"], "kiosk": "k2", "request": request})
    publish("face.enrolled", {"customer": card["customer"]["masked"], "kiosk": "k1", "request": "other"})
    publish("face.enrolled", {"customer": card["customer"]["masked"], "kiosk": "k1", "request": request})
    until(lambda: kiosk.done == "enrolled", what="the enrolment answer")
    assert text(kiosk, "done") == "登记成功！下次来厅可刷脸取号。"
    # with no vision service answering, the kiosk says so once its wait is over
    tap(kiosk, "done.ok")
    tap(kiosk, "attract.face")
    publish("card.id.read", card)
    until(lambda: kiosk.visit.customer is not None, what="the card again")
    tap(kiosk, "consent.purpose.ticket")
    tap(kiosk, "consent.yes")
    until(lambda: kiosk.screen == "face_look", what="the second enrolment")
    clock.advance(31)
    until(lambda: kiosk.done == "unavailable", what="the wait to end")
    assert text(kiosk, "done") == "抱歉，人脸登记服务暂时不可用，请稍后再试或使用身份证办理。"
    tap(kiosk, "done.ok")
    tap(kiosk, "attract.face")
    publish("card.id.read", card)
    until(lambda: kiosk.visit.customer is not None, what="the card again")
    tap(kiosk, "consent.no")
    until(lambda: kiosk.screen == "done", what="the decline")
    assert "刷身份证照常办理" in text(kiosk, "done")
    assert [e["data"]["decision"] for e in kiosk_events(bus, "consent.")] == ["granted", "granted", "declined"]
    # withdrawing is on the same screen, as easy as signing up, and withdraws every purpose
    tap(kiosk, "done.ok")
    tap(kiosk, "attract.face")
    publish("card.id.read", card)
    until(lambda: kiosk.visit.customer is not None, what="the card a third time")
    tap(kiosk, "consent.revoke")
    until(lambda: kiosk.screen == "done", what="the withdrawal")
    assert text(kiosk, "done") == "已撤回同意，您的人脸特征值将被删除。"
    last = kiosk_events(bus, "")[-1]["data"]
    assert (last["decision"], last["purposes"]) == ("withdrawn", ["ticket", "vip_arrival"])


def test_a_vip_customer_is_offered_vip_arrival_too(
    make_kiosk: MakeKiosk, bus: BusClient, core: CoreProcess, publish: Publish
) -> None:
    assert load_sample(bus, Home(core.home.root))  # HQ tags 王五 VIP
    kiosk = make_kiosk(kiosk_id="k1")
    tap(kiosk, "attract.face")
    publish("card.id.read", card_event(core.home, elderly=False, name="王五", number="440306195010104567"))
    until(lambda: kiosk.consent.vip, what="HQ's tags")
    tap(kiosk, "consent.purpose.vip_arrival")
    tap(kiosk, "consent.yes")
    until(lambda: kiosk.screen == "face_look", what="the enrolment")
    assert kiosk_events(bus, "consent.")[-1]["data"]["purposes"] == ["vip_arrival"]


def test_a_candidate_left_unconfirmed_is_told_to_the_vision_service_as_not_confirmed(
    make_kiosk: MakeKiosk, core: CoreProcess, publish: Publish
) -> None:
    kiosk = make_kiosk(kiosk_id="k1")
    card = card_event(core.home, elderly=False, **ELDER)

    def offered() -> str:  # a ticket by face asked, and the vision service's candidate on screen
        tap(kiosk, "attract.face.ticket")
        until(lambda: kiosk.screen == "face_look", what="the camera's prompts")
        request = kiosk.face.request
        publish("face.candidate", {"kiosk": "k1", "request": request, "customer": card["customer"], "tags": []})
        until(lambda: kiosk.screen == "face_confirm", what="the candidate")
        return str(request)

    with Subscriber(["face.match_answered"], endpoints=Endpoints.local(core.home)) as sub:
        first = offered()
        tap(kiosk, "nav.home")  # the customer walks away from the question
        second = offered()
        publish("card.id.read", card)  # or taps the card instead
        until(lambda: kiosk.visit.customer is not None, what="the card")
        kiosk.home()
        third = offered()
        tap(kiosk, "face.yes")
        answers = [sub.recv(timeout=10.0) for _ in range(3)]
    assert [(a["data"]["request"], a["data"]["answer"]) for a in answers if a] == [
        (first, "rejected"),
        (second, "rejected"),
        (third, "confirmed"),
    ]
    assert {a["data"]["customer_hash"] for a in answers if a} == {card["customer"]["hash"]}


def test_elderly_mode_is_larger_and_calls_staff(make_kiosk: MakeKiosk, bus: BusClient) -> None:
    kiosk = make_kiosk(kiosk_id="door-kiosk")
    normal = find(kiosk, "attract.take").label.font_size
    tap(kiosk, "attract.elderly")
    assert kiosk.screen == "elderly"
    tiles = [w.kid for w in kiosk.walk() if str(getattr(w, "kid", "")).startswith("biz.")]
    assert tiles == ["biz.A", "biz.B", "biz.C"]  # fewer choices: the businesses with a green channel
    assert find(kiosk, "biz.A").label.font_size > normal * 0.6 * 1.3 * 0.9
    assert find(kiosk, "hall.name").label.font_size > 34
    tap(kiosk, "elderly.staff")
    until(lambda: kiosk.screen == "done", what="the staff call")
    assert text(kiosk, "done") == "已通知工作人员，请稍候，马上就来"
    [event] = kiosk_events(bus, "staff.")
    assert event["data"] == {"kiosk": "door-kiosk", "reason": "elderly"}
    tap(kiosk, "done.ok")
    tap(kiosk, "attract.elderly")
    tap(kiosk, "biz.B")
    until(lambda: kiosk.screen == "ticket", what="the ticket")
    assert bus.request("ticket.show", {"number": "B001"})["priority"] == "green"


def test_leaving_needs_the_technician_pin(make_kiosk: MakeKiosk) -> None:
    kiosk = make_kiosk()
    for _ in range(5):
        tap(kiosk, "hall.name")
    assert kiosk.screen == "pin"
    for digit in "000000":
        tap(kiosk, f"pin.{digit}")
    tap(kiosk, "pin.ok")
    assert "未设置技术员密码" in texts(kiosk)  # no PIN configured: no PIN works

    exits: list[bool] = []
    hashed = PasswordHasher(time_cost=1, memory_cost=8192).hash("246810")
    guarded = make_kiosk(technician_pin_hash=hashed)
    guarded.on_exit = lambda: exits.append(True)
    guarded._on_close()  # the window's close request (Alt-F4, …) opens the PIN pad instead
    assert guarded.screen == "pin"
    for digit in "246811":
        tap(guarded, f"pin.{digit}")
    tap(guarded, "pin.ok")
    assert text(guarded, "message") == "密码错误" and not exits
    for digit in "246810":
        tap(guarded, f"pin.{digit}")
    assert text(guarded, "pin.dots") == "●●●●●●"
    tap(guarded, "pin.ok")
    assert exits == [True]
