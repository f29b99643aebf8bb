"""The counter pad by simulated touches (strokes included) against a real core on a real bus.

The clerk's side is played on the bus as the staff panel does it (``form.push``,
``form.cancel``, ``counter.finish``); ``test_pad_panel`` plays it through a real panel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from kiosk_ui.drive import find, stroke, tap, text, texts, until
from kiosk_ui.pad.tour import HANDWRITING
from tests.busutil import connected, wait_event
from tests.conftest import CoreProcess
from tests.kiosk_ui.conftest import FakeClock
from tests.records_helpers import customer_at_counter, name_change_values

pytestmark = pytest.mark.process

MakePad = Callable[..., Any]


@pytest.fixture
def events(bus: BusClient, core: CoreProcess) -> Iterator[Subscriber]:
    with connected(bus, core.home, ["form.", "record.", "pad.", "evaluation."]) as sub:
        yield sub


def push(bus: BusClient, core: CoreProcess, **values: Any) -> dict[str, Any]:
    form: dict[str, Any] = bus.request(
        "form.push",
        {"counter": "2", "form": "name_change", "values": {**name_change_values(core.home), **values}, "staff": "li"},
    )
    return form


def sign_name(pad: Any, *, pressure: float | None = None) -> None:
    for points in HANDWRITING:
        stroke(pad, "sign.box", points, pressure=pressure)


def test_the_customer_reads_asks_confirms_signs_and_rates(
    make_pad: MakePad, bus: BusClient, core: CoreProcess, events: Subscriber
) -> None:
    bus.request("counter.open", {"counter": "2", "staff": "王芳"})
    pad = make_pad()
    until(lambda: "2号窗口 · 工作人员 王芳 为您服务" in texts(pad), what="the welcome with the clerk's name")
    ticket = customer_at_counter(bus, core.home)
    until(lambda: pad.screen == "called", what="the called ticket")
    assert text(pad, "pad.number") == ticket["number"]
    assert text(pad, "pad.who") == f"客户：王* {ticket['customer']['masked']}"

    form = push(bus, core)
    until(lambda: pad.screen == "form", what="the pushed form")
    assert text(pad, "form.title") == "更名（过户）申请"
    assert text(pad, "form.value.new_name") == "赵六"
    assert text(pad, "form.value.new_holder_id") == "1101**********1233"  # the masked form only
    assert "本人确认以上信息真实、准确" in text(pad, "form.term.1")

    # the customer marks the phone number as wrong and asks the clerk; the clerk corrects it
    tap(pad, "form.field.phone")
    assert pad.reading.flagged == ["phone"]
    tap(pad, "form.ask")
    asked = wait_event(events, "pad.correction_requested", lambda d: d["counter"] == "2")["data"]
    assert asked == {"counter": "2", "form_id": form["id"], "fields": ["phone"], "labels": ["联系电话"]}
    until(lambda: pad.reading.asked, what="the core's answer to the request reaching the pad")  # it may trail the event
    assert "已通知工作人员修改" in text(pad, "message")
    # durable: in the hall's log, and kept on the open form for a counter page opened later
    logged = bus.request("events.since", {"seq": 0, "prefix": "pad.correction_requested"})
    assert [e["data"] for e in logged] == [asked]
    assert bus.request("form.current", {"counter": "2"})["form"]["correction_asked"] == ["phone"]
    corrected = push(bus, core, phone="13900139001")
    until(lambda: pad.reading.form is not None and pad.reading.form["id"] == corrected["id"], what="the new form")
    assert pad.reading.changed == ["phone"] and text(pad, "form.value.phone") == "13900139001"
    assert text(pad, "form.updated") == "工作人员已修改表单，请再次核对"

    tap(pad, "form.confirm")
    until(lambda: pad.screen == "signature", what="the signature box")
    assert wait_event(events, "form.confirmed")["data"]["id"] == corrected["id"]

    # a dot is refused kindly, on the pad, and nothing is recorded
    stroke(pad, "sign.box", [(0.5, 0.5), (0.501, 0.5)])
    tap(pad, "sign.done")
    until(lambda: pad.message is not None, what="the refusal")
    assert text(pad, "message") == "签名太短了，请在框内签署您的全名"
    assert pad.signing.strokes == [] and bus.request("record.list") == []
    # clear and redo
    stroke(pad, "sign.box", HANDWRITING[0])
    tap(pad, "sign.clear")
    assert pad.signing.strokes == [] and pad.message is None
    sign_name(pad, pressure=0.6)
    assert len(pad.signing.strokes) == len(HANDWRITING)
    tap(pad, "sign.done")
    until(lambda: pad.screen == "signed", what="the signed record")
    record = wait_event(events, "record.signed")["data"]
    assert text(pad, "signed.record") == f"回执编号 {record['id']}"
    assert record["form"]["id"] == corrected["id"] and record["form"]["fields"][4]["value"] == "13900139001"
    strokes = record["signature"]["strokes"]
    assert len(strokes) == len(HANDWRITING) and all(len(s) == len(p) for s, p in zip(strokes, HANDWRITING, strict=True))
    times = [p[2] for s in strokes for p in s]
    assert times == sorted(times) and times[-1] > 0  # milliseconds since the first touch
    assert {p[3] for s in strokes for p in s} == {600}  # the screen's pressure, in thousandths
    first, last = strokes[0][0], strokes[0][-1]  # 王's first stroke: left to right along the top
    assert first[0] < last[0] and abs(first[0] - round(1000 * HANDWRITING[0][0][0])) <= 2
    assert bus.request("record.show", {"id": record["id"]})["verified"]["ok"]

    bus.request("counter.finish", {"counter": "2"})
    until(lambda: pad.screen == "evaluation", what="the rating")
    tap(pad, "eval.star.4")
    tap(pad, "eval.reason.clear")
    tap(pad, "eval.submit")
    until(lambda: pad.screen == "done", what="the thanks")
    assert wait_event(events, "evaluation.recorded")["data"]["score"] == 4
    tap(pad, "done.ok")
    assert pad.screen == "idle"


def test_a_form_left_untouched_is_withdrawn(make_pad: MakePad, bus: BusClient, core: CoreProcess) -> None:
    clock = FakeClock()
    pad = make_pad(clock=clock, form_timeout_s=120)
    customer_at_counter(bus, core.home)
    form = push(bus, core)
    until(lambda: pad.screen == "form", what="the form")
    clock.advance(100)
    tap(pad, "form.field.account")  # a touch restarts the wait
    clock.advance(100)
    until(lambda: True)
    assert pad.screen == "form"
    clock.advance(21)
    until(lambda: pad.screen == "done", what="the withdrawal")
    assert text(pad, "done") == "表单长时间未操作，已撤回"
    until(lambda: bus.request("form.current", {"counter": "2"})["form"] is None, what="the core to withdraw it")
    [withdrawn] = bus.request("events.since", {"seq": 0, "prefix": "form.withdrawn"})
    assert withdrawn["data"] == {
        "id": form["id"],
        "counter": "2",
        "state": "withdrawn",
        "reason": "abandoned",
        "by": "pad-2",
    }


def test_the_clerk_cancels_and_the_end_of_the_visit_withdraws(
    make_pad: MakePad, bus: BusClient, core: CoreProcess
) -> None:
    pad = make_pad()
    customer_at_counter(bus, core.home)
    push(bus, core)
    until(lambda: pad.screen == "form", what="the form")
    bus.request("form.cancel", {"counter": "2", "by": "li"})
    until(lambda: pad.screen == "done", what="the cancel")
    assert text(pad, "done") == "工作人员已撤回该表单"
    tap(pad, "done.ok")
    assert pad.screen == "called"
    push(bus, core)
    until(lambda: pad.screen == "form", what="the second form")
    tap(pad, "form.confirm")
    until(lambda: pad.screen == "signature", what="the signature box")
    bus.request("counter.transfer", {"counter": "2", "business": "D"})  # sent on to another business
    until(lambda: pad.screen == "idle", what="the customer to leave this counter")
    until(lambda: bus.request("form.current", {"counter": "2"})["form"] is None, timeout=20, what="the withdrawal")


def test_a_lost_bus_is_said_and_the_form_comes_back_with_its_strokes(
    make_pad: MakePad, bus: BusClient, core: CoreProcess
) -> None:
    pad = make_pad()
    customer_at_counter(bus, core.home)
    push(bus, core)
    until(lambda: pad.screen == "form", what="the form")
    tap(pad, "form.confirm")
    until(lambda: pad.screen == "signature", what="the signature box")
    for points in HANDWRITING[:3]:
        stroke(pad, "sign.box", points)
    core.kill9()
    until(lambda: pad.screen == "offline", what="the offline screen")
    assert text(pad, "offline.title") == "系统连接中，请稍候"
    assert "您已确认的内容不会丢失" in texts(pad)
    core.start()
    until(lambda: pad.screen == "signature", timeout=60, what="the signature box again")
    assert len(pad.signing.strokes) == 3  # what the customer had written is still there
    for points in HANDWRITING[3:]:
        stroke(pad, "sign.box", points)
    tap(pad, "sign.done")
    until(lambda: pad.screen == "signed", what="the record")
    [record] = bus.request("record.list")
    assert bus.request("record.verify")["ok"] and record["n"] == 1


def test_a_pad_started_later_shows_the_open_form_and_english_and_large_text(
    make_pad: MakePad, bus: BusClient, core: CoreProcess
) -> None:
    customer_at_counter(bus, core.home)
    push(bus, core)
    pad = make_pad()  # started (or restarted) after the push: form.current brings the form
    until(lambda: pad.screen == "form", what="the open form")
    tap(pad, "lang")
    assert text(pad, "form.title") == "Change of account holder"
    assert "Counter 2" in texts(pad) and "I confirm the information above" in text(pad, "form.term.1")
    size = pad.fs(30)
    tap(pad, "pad.large")
    assert pad.fs(30) == pytest.approx(size * 1.3)
    assert find(pad, "form.value.new_name").font_size == pytest.approx(size * 1.3)


def test_a_counter_with_a_pad_and_a_rating_kiosk_asks_once(
    make_pad: MakePad, make_kiosk: Callable[..., Any], bus: BusClient, core: CoreProcess
) -> None:
    pad = make_pad()
    kiosk = make_kiosk(evaluation_counter="2")  # drawn above the pad: the touches below reach the kiosk
    ticket = customer_at_counter(bus, core.home)
    bus.request("counter.finish", {"counter": "2"})
    until(lambda: pad.screen == "evaluation" and kiosk.screen == "evaluation", what="both asking")
    tap(kiosk, "eval.star.5")
    tap(kiosk, "eval.submit")
    until(lambda: kiosk.screen == "done", what="the kiosk's thanks")
    until(lambda: pad.screen == "idle", what="the pad to stop asking")
    assert bus.request("ticket.show", {"number": ticket["number"]})["evaluation"]["score"] == 5


def test_a_pad_for_a_counter_the_hall_does_not_have_says_so(make_pad: MakePad) -> None:
    pad = make_pad(counter="9", ready=False)
    until(lambda: pad.unknown_counter, what="the core's answer")
    assert text(pad, "pad.unknown") == "本屏对应的窗口 9 不在本厅的窗口中，请联系技术员"


def test_a_signature_recorded_while_the_pad_was_cut_off_is_shown_as_signed(
    make_pad: MakePad, bus: BusClient, core: CoreProcess
) -> None:
    from tests.records_helpers import signature

    pad = make_pad()
    customer_at_counter(bus, core.home)
    form = push(bus, core)
    until(lambda: pad.screen == "form", what="the form")
    tap(pad, "form.confirm")
    until(lambda: pad.screen == "signature", what="the signature box")
    core.kill9()
    until(lambda: pad.screen == "offline", what="the offline screen")
    core.start()
    # the pad's own signing went through but its answer was lost: the record is there when it is back
    with BusClient("test", endpoints=Endpoints.local(core.home), timeout=5.0) as again:
        record = again.request("form.sign", {"form_id": form["id"], "signature": signature()})
    until(lambda: pad.screen == "signed", timeout=60, what="the signed result")
    assert text(pad, "signed.record") == f"回执编号 {record['id']}"
