"""Paperless forms and signed records in a real core, over the bus: push, confirm, sign, verify, tamper."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from edge.bus import BusClient, Subscriber
from edge.errors import Conflict, InvalidRequest, NotFound
from sync.privacy import scrub
from tests.busutil import connected, wait_event
from tests.conftest import CoreProcess
from tests.records_helpers import CUSTOMER, HOLDER, customer_at_counter, name_change_values, signature

pytestmark = pytest.mark.process


@pytest.fixture
def sub(bus: BusClient, core: CoreProcess) -> Iterator[Subscriber]:
    """The form and record events, from a subscription known to be connected."""
    with connected(bus, core.home, ["form.", "record."]) as events:
        yield events


def _by_hand(record: dict[str, Any]) -> str:
    """The digest as HQ or an auditor would compute it: SHA-256 of the sorted, compact UTF-8 JSON."""
    body = {k: v for k, v in record.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sign_one(bus: BusClient, core: CoreProcess, counter: str = "2") -> dict[str, Any]:
    form = bus.request(
        "form.push", {"counter": counter, "form": "name_change", "values": name_change_values(core.home)}
    )
    bus.request("form.confirm", {"form_id": form["id"]})
    signed: dict[str, Any] = bus.request("form.sign", {"form_id": form["id"], "signature": signature()})
    return signed


def test_templates_are_the_halls_defaults_until_hqs_bundle_brings_its_own(bus: BusClient) -> None:
    ids = [t["id"] for t in bus.request("form.templates")]
    assert ids == ["name_change", "tariff_change", "new_connection"]
    assert [t["id"] for t in bus.request("form.templates", {"business": "C"})] == ["name_change", "tariff_change"]
    form = {
        "id": "invoice_title",
        "business": "A",
        "title": "发票抬头变更",
        "fields": [{"key": "title", "label": "抬头"}],
        "terms": ["以上信息真实有效。"],
    }
    bundle = {"version": 3, "published_at": datetime.now(UTC).isoformat(), "forms": [form]}
    assert bus.request("bundle.apply", {"bundle": bundle})["counts"]["form"] == 1
    assert [t["id"] for t in bus.request("form.templates")] == ["invoice_title"]
    stray = {**bundle, "version": 4, "forms": [{**form, "business": "Z"}]}
    refused = bus.request("bundle.apply", {"bundle": stray})
    assert not refused["applied"] and "form invoice_title is for business 'Z'" in refused["error"]


def test_push_confirm_sign_gives_a_record_that_verifies_and_goes_to_hq(
    bus: BusClient, core: CoreProcess, sub: Subscriber
) -> None:
    with pytest.raises(Conflict, match="counter 2 has no customer"):
        bus.request("form.push", {"counter": "2", "form": "name_change", "values": name_change_values(core.home)})
    ticket = customer_at_counter(bus, core.home)
    values = name_change_values(core.home)
    form = bus.request("form.push", {"counter": "2", "form": "name_change", "values": values, "staff": "li"})
    pushed = wait_event(sub, "form.pushed")["data"]
    assert pushed["id"] == form["id"] and pushed["ticket"]["number"] == ticket["number"]
    assert pushed["staff"] == "王芳" and pushed["customer"]["masked"] == ticket["customer"]["masked"]
    now = bus.request("form.current", {"counter": "2"})
    assert now["form"]["id"] == form["id"] and now["ticket"]["number"] == ticket["number"]
    with pytest.raises(Conflict, match="the customer has not confirmed this form yet"):
        bus.request("form.sign", {"form_id": form["id"], "signature": signature()})
    bus.request("form.confirm", {"form_id": form["id"]})
    assert wait_event(sub, "form.confirmed")["data"]["id"] == form["id"]
    signed = bus.request("form.sign", {"form_id": form["id"], "signature": signature()})
    assert signed["n"] == 1 and re.fullmatch(r"R\d{8}-0001", signed["id"])
    event = wait_event(sub, "record.signed")
    record = event["data"]

    # the record binds everything: form, values, terms, ticket, customer, counter, staff, times, strokes
    assert record["digest"] == signed["digest"] == _by_hand(record)
    day_start = f"{record['hall']}|{record['day']}".encode()  # the chain starts at the hall's and day's own hash
    assert record["prev"] == hashlib.sha256(day_start).hexdigest()
    assert [f["value"] for f in record["form"]["fields"]][:3] == ["3301004277", "王五", "赵六"]
    assert record["form"]["terms"][0].startswith("本人确认以上信息真实")
    assert record["ticket"]["number"] == ticket["number"] and record["counter"] == "2" and record["staff"] == "王芳"
    assert record["signature"]["strokes"] == signature()["strokes"]
    assert record["signed_at"] >= record["confirmed_at"] >= record["pushed_at"]
    text = json.dumps(record, ensure_ascii=False)
    assert HOLDER[1] not in text and CUSTOMER[1] not in text, "an identity number in clear"
    assert values["new_holder_id"]["masked"] in text
    # it is durable, in the records lane, and the agent's privacy scrub passes it unchanged: HQ can verify it
    logged = bus.request("sync.batch", {"lane": "records", "after": 0})["events"]
    assert [e["data"] for e in logged if e["topic"] == "record.signed"] == [record]
    assert scrub(event) == event

    shown = bus.request("record.show", {"id": signed["id"]})
    assert shown["record"] == record and shown["verified"] == {"ok": True, "problems": [], "day_ok": True}
    png = base64.b64decode(shown["rendered_png"])
    assert hashlib.sha256(png).hexdigest() == record["signature"]["rendered_sha256"]
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (600, 240)
    assert bus.request("form.current", {"counter": "2"})["form"] is None
    with pytest.raises(Conflict, match="already signed"):
        bus.request("form.sign", {"form_id": form["id"], "signature": signature()})

    second = _sign_one(bus, core)
    assert second["n"] == 2
    assert bus.request("record.show", {"id": second["id"]})["record"]["prev"] == record["digest"]
    listed = bus.request("record.list", {"counter": "2"})
    assert [(r["n"], r["title"], r["number"]) for r in listed] == [(1, "更名（过户）申请", ticket["number"])] * 1 + [
        (2, "更名（过户）申请", ticket["number"])
    ]
    assert bus.request("record.verify") == {"day": signed["day"], "records": 2, "ok": True, "problems": []}


def test_a_changed_record_is_detected(bus: BusClient, core: CoreProcess) -> None:
    customer_at_counter(bus, core.home)
    first, second, third = (_sign_one(bus, core) for _ in range(3))
    db = sqlite3.connect(core.home.db_path, timeout=10)
    try:
        body = json.loads(db.execute("SELECT body FROM records WHERE id = ?", (first["id"],)).fetchone()[0])
        body["form"]["fields"][2]["value"] = "钱七"  # someone rewrites the new holder's name
        db.execute("UPDATE records SET body = ? WHERE id = ?", (json.dumps(body, ensure_ascii=False), first["id"]))
        db.commit()
        report = bus.request("record.verify")
        assert not report["ok"]
        assert report["problems"] == [
            {"id": first["id"], "n": 1, "problem": "changed: its content does not match its digest"}
        ]
        shown = bus.request("record.show", {"id": first["id"]})
        assert not shown["verified"]["ok"] and bus.request("record.show", {"id": third["id"]})["verified"]["ok"]

        # a forger who also recomputes the digest (and its index) breaks the next record's link
        forged = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        db.execute(
            "UPDATE records SET body = ?, digest = ? WHERE id = ?",
            (forged, hashlib.sha256(forged.encode()).hexdigest(), first["id"]),
        )
        db.commit()
        problems = bus.request("record.verify")["problems"]
        assert [(p["id"], p["problem"]) for p in problems] == [
            (second["id"], "chain broken: it does not follow the record before it")
        ]

        # a swapped signature picture, and a removed record
        db.execute("UPDATE records SET rendered = ? WHERE id = ?", (b"\x89PNG another", third["id"]))
        db.execute("DELETE FROM records WHERE id = ?", (second["id"],))
        db.commit()
        problems = bus.request("record.verify")["problems"]
        assert {(p["n"], p["problem"]) for p in problems} >= {
            (3, "changed: its signature picture"),
            (3, "record 2 of the day is missing"),
        }
    finally:
        db.close()


def test_bad_values_and_short_signatures_are_refused_kindly(bus: BusClient, core: CoreProcess) -> None:
    customer_at_counter(bus, core.home)
    values = name_change_values(core.home)
    for bad, message in (
        ({"new_holder_id": "110101199003071233"}, "never the number"),
        ({"old_name": "王五 11010519491231002X"}, "looks like an identity number"),
        ({"phone": "call me"}, "mobile"),
    ):
        with pytest.raises(InvalidRequest, match=message):
            bus.request("form.push", {"counter": "2", "form": "name_change", "values": {**values, **bad}})
    with pytest.raises(NotFound, match="no form 'visa'"):
        bus.request("form.push", {"counter": "2", "form": "visa", "values": {}})
    form = bus.request("form.push", {"counter": "2", "form": "name_change", "values": values})
    bus.request("form.confirm", {"form_id": form["id"]})
    dot = {"width": 1000, "height": 400, "strokes": [[[500, 200, 0, None]]]}
    with pytest.raises(InvalidRequest, match=r"the signature is too short \(too few points\)"):
        bus.request("form.sign", {"form_id": form["id"], "signature": dot})
    outside = {"width": 1000, "height": 400, "strokes": [[[5000, 200, 0, None]]]}
    with pytest.raises(InvalidRequest, match="outside the 1000×400 box"):
        bus.request("form.sign", {"form_id": form["id"], "signature": outside})
    assert bus.request("form.current", {"counter": "2"})["form"]["state"] == "confirmed"  # still there to sign
    assert bus.request("form.sign", {"form_id": form["id"], "signature": signature()})["n"] == 1


def test_cancel_replace_withdraw_and_the_end_of_the_ticket(bus: BusClient, core: CoreProcess, sub: Subscriber) -> None:
    customer_at_counter(bus, core.home)
    push = {"counter": "2", "form": "name_change", "values": name_change_values(core.home)}
    first = bus.request("form.push", push)
    bus.request("form.cancel", {"counter": "2", "by": "li", "reason": "客户要求修改"})
    cancelled = wait_event(sub, "form.cancelled")["data"]
    assert cancelled == {"id": first["id"], "counter": "2", "state": "cancelled", "reason": "客户要求修改", "by": "li"}
    with pytest.raises(Conflict, match="the clerk cancelled this form"):
        bus.request("form.confirm", {"form_id": first["id"]})
    with pytest.raises(Conflict, match="no open form"):
        bus.request("form.cancel", {"counter": "2", "by": "li"})

    second = bus.request("form.push", push)
    third = bus.request("form.push", {**push, "values": {**push["values"], "phone": "13900139000"}})
    replaced = wait_event(sub, "form.withdrawn")["data"]
    assert (replaced["id"], replaced["reason"]) == (second["id"], "replaced") and third["replaces"] == second["id"]
    bus.request("form.withdraw", {"form_id": third["id"], "reason": "abandoned"})
    assert wait_event(sub, "form.withdrawn")["data"]["reason"] == "abandoned"

    fourth = bus.request("form.push", push)
    bus.request("counter.finish", {"counter": "2"})  # the clerk finishes with the form still open
    ended = wait_event(sub, "form.withdrawn", timeout=20)["data"]  # the core's next tick (every 5 s)
    assert (ended["id"], ended["reason"]) == (fourth["id"], "ticket_ended")
    assert bus.request("form.current", {"counter": "2"})["form"] is None


def test_only_the_core_speaks_of_forms_and_records(bus: BusClient) -> None:
    for topic in ("record.signed", "form.pushed"):
        with pytest.raises(Conflict, match="belongs to the core"):
            bus.request("event.publish", {"topic": topic, "data": {}})


def test_counters_have_english_names_for_the_pad_and_the_kiosk(bus: BusClient) -> None:
    counters = [
        {"id": "1", "name": "1号窗口", "primary": ["A"], "secondary": ["D"]},
        {"id": "2", "name": "2号窗口", "name_en": "Paperless counter 2", "primary": ["A", "C"], "secondary": ["D"]},
        {"id": "3", "name": "3号窗口", "primary": ["B"], "secondary": ["C"]},
        {"id": "4", "name": "4号窗口", "primary": ["D"], "secondary": ["A", "B", "C"]},
    ]
    businesses = [
        {"code": c, "name": n} for c, n in zip("ABCD", ("电费缴纳", "业扩报装", "变更用电", "咨询"), strict=True)
    ]
    bundle = {
        "version": 1,
        "published_at": datetime.now(UTC).isoformat(),
        "businesses": businesses,
        "counters": counters,
    }
    assert bus.request("bundle.apply", {"bundle": bundle})["applied"]
    names = {c["id"]: (c["name"], c["name_en"]) for c in bus.request("queue.status")["counters"]}
    assert names["2"] == ("2号窗口", "Paperless counter 2")
    assert names["1"] == ("1号窗口", "Counter 1")  # none given: the counter's id
    assert bus.request("form.current", {"counter": "2"})["counter"]["name_en"] == "Paperless counter 2"
