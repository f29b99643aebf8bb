"""The core's sync area over the real bus: lanes, acknowledgement, reclaiming, shedding, bundles."""

from __future__ import annotations

import base64
import copy
import gzip
import json
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints
from edge.errors import Conflict, InvalidRequest, NotFound
from edge.identity import make_ref
from edge.schemas.sync import lane_of
from sync.hq.wire import decode_batch
from tests.conftest import CoreProcess

pytestmark = pytest.mark.process


@pytest.fixture
def bus(sync_core: CoreProcess) -> Any:
    with BusClient("test", endpoints=Endpoints.local(sync_core.home), timeout=5.0, retries=1) as client:
        yield client


def publish(bus: BusClient, topic: str, data: dict[str, Any]) -> int:
    seq: int = bus.request("event.publish", {"topic": topic, "data": data, "durable": True})["seq"]
    return seq


def test_batches_by_lane_then_acknowledge_and_reclaim(bus: BusClient) -> None:
    for _ in range(3):
        bus.request("ticket.issue", {"business": "A"})
    flows = [publish(bus, "flow.counted", {"zone": "hall", "in": i}) for i in range(2)]
    publish(bus, "device.health", {"device": "printer", "state": "offline"})  # the core raises an alert
    alert = bus.request("events.since", {"seq": 0, "prefix": "alert.raised"})[0]["seq"]
    bus.request("ticket.issue", {"business": "B"})

    got = {lane: bus.request("sync.batch", {"lane": lane, "after": 0}) for lane in ("alerts", "records", "analytics")}
    assert [e["seq"] for e in got["alerts"]["events"]] == [alert]
    assert [e["seq"] for e in got["analytics"]["events"]] == flows
    records = got["records"]["events"]
    assert [e["topic"] for e in records if e["topic"] == "ticket.issued"] == ["ticket.issued"] * 4
    assert all(lane_of(e["topic"]) == "records" for e in records)
    seqs = [e["seq"] for e in records]
    assert seqs == sorted(seqs)
    head = got["records"]["head"]
    assert head == max(seqs + flows + [alert])

    limited = bus.request("sync.batch", {"lane": "records", "after": seqs[0], "limit": 2})
    assert [e["seq"] for e in limited["events"]] == seqs[1:3]
    # packed: the same events as HQ takes them, in one compressed body that HQ's own decoder reads
    packed = bus.request("sync.batch", {"lane": "records", "after": seqs[0], "limit": 2, "packed": True})
    assert packed["count"] == 2 and packed["last"] == seqs[2] and packed["head"] == head
    lane, after, _, sent = decode_batch(gzip.decompress(base64.b64decode(packed["body"])))
    assert (lane, after) == ("records", seqs[0])
    assert [(e["seq"], e["id"], e["topic"], json.loads(e["data"])) for e in sent] == [
        (e["seq"], e["id"], e["topic"], e["data"]) for e in limited["events"]
    ]
    assert bus.request("sync.batch", {"lane": "alerts", "after": alert, "packed": True})["count"] == 0

    status = bus.request("sync.status")
    assert status["backlog"] == head and status["cursor"] == 0
    assert status["lanes"]["analytics"]["backlog"] == 2

    # HQ holds the records lane up to its third event: acknowledged, and (keep_s=0) reclaimed
    out = bus.request("sync.acked", {"lane": "records", "seq": seqs[2], "keep_s": 0})
    assert out == {"lane": "records", "acked": seqs[2], "reclaimed": 3}
    left = [e["seq"] for e in bus.request("events.since", {"seq": 0, "limit": 100})]
    assert not set(seqs[:3]) & set(left) and seqs[3] in left and alert in left
    assert len(bus.request("ticket.list", {})) == 4  # projections stay
    with pytest.raises(Conflict, match="reclaimed"):
        bus.request("sync.batch", {"lane": "records", "after": 0})
    again = bus.request("sync.batch", {"lane": "records", "after": seqs[2]})
    assert [e["seq"] for e in again["events"]] == seqs[3:]

    status = bus.request("sync.status")
    assert status["lanes"]["records"]["cursor"] == seqs[2]
    assert status["cursor"] == min(flows[0], alert) - 1
    assert status["last_ack"] is not None
    with pytest.raises(InvalidRequest, match="beyond the log's head"):
        bus.request("sync.acked", {"lane": "records", "seq": head + 100})


def test_full_disk_sheds_analytics_only_and_records_the_gap(bus: BusClient) -> None:
    flows = [publish(bus, "flow.counted", {"i": i}) for i in range(5)]
    tickets = [bus.request("ticket.issue", {"business": "A"})["number"] for _ in range(2)]
    publish(bus, "flow.counted", {"i": 99})  # the newest event is never removed
    out = bus.request("sync.shed", {"max_events": 3, "reason": "disk full"})
    assert out["shed"] == 3
    assert out["gap"] == {"lane": "analytics", "first": flows[0], "last": flows[2], "count": 3, "reason": "disk full"}
    records = bus.request("sync.batch", {"lane": "records", "after": 0})["events"]
    gaps = [e for e in records if e["topic"] == "sync.gap"]
    assert len(gaps) == 1 and gaps[0]["data"]["count"] == 3
    assert [e["data"]["number"] for e in records if e["topic"] == "ticket.issued"] == tickets
    analytics = bus.request("sync.batch", {"lane": "analytics", "after": 0})["events"]
    assert [e["data"]["i"] for e in analytics] == [3, 4, 99]
    # shedding again never touches records: only the analytics left go (the newest event is now the gap)
    out = bus.request("sync.shed", {"max_events": 100})
    assert out["shed"] == 3
    assert bus.request("sync.batch", {"lane": "analytics", "after": 0})["events"] == []
    assert len(bus.request("sync.batch", {"lane": "records", "after": 0})["events"]) == len(records) + 1


KEY = b"k" * 32
VIP = make_ref("id", "110101199003071234", key=KEY).hash
OTHER = make_ref("ic", "0100-2233-44", key=KEY).hash


def bundle(version: int, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": version,
        "published_at": "2026-11-25T08:00:00+08:00",
        "businesses": [{"code": "A", "name": "电费缴纳"}, {"code": "B", "name": "业扩报装"}],
        "counters": [{"id": "1", "name": "1号窗口", "primary": ["A"], "secondary": ["B"]}],
        "staff": [{"id": "wang", "name": "王芳", "counters": ["1"], "roles": ["teller"]}],
        "customer_tags": [{"hash": VIP, "tags": ["VIP"]}],
        "outages": [
            {
                "id": "o-17",
                "kind": "planned",
                "addresses": ["深圳市福田区华强北路"],
                "starts": "2026-11-26T09:00:00+08:00",
                "ends": "2026-11-26T15:00:00+08:00",
                "text": "线路检修",
            }
        ],
        "bills": [{"customer_hash": VIP, "period": "2026-10", "amount_fen": 23456, "due": "2026-11-30"}],
        "usage": [{"customer_hash": VIP, "period": "2026-10", "kwh": 312.5}],
    }
    body.update(over)
    return body


def customer(digest: str) -> dict[str, str]:
    return {"kind": "id", "hash": digest, "masked": "1101**********1234"}


def test_bundle_applied_whole_and_feeds_customer_tags(bus: BusClient) -> None:
    assert bus.request("bundle.status")["version"] is None
    out = bus.request("bundle.apply", {"bundle": bundle(1)})
    assert out["applied"] and out["counts"]["tag"] == 1 and out["counts"]["bill"] == 1
    status = bus.request("bundle.status")
    assert status["version"] == 1 and status["published_at"].startswith("2026-11-25T08:00")
    assert status["applied_at"] is not None
    ticket = bus.request("ticket.issue", {"business": "A", "customer": customer(VIP)})
    assert ticket["priority"] == "vip"

    found = bus.request("bundle.lookup", {"customer_hash": VIP})
    assert found["bills"][0]["amount_fen"] == 23456 and found["usage"][0]["kwh"] == 312.5
    assert bus.request("bundle.lookup", {"customer_hash": OTHER})["bills"] == []
    by_address = bus.request("bundle.lookup", {"address": "深圳市福田区 华强北路 1001号"})
    assert [o["id"] for o in by_address["outages"]] == ["o-17"]
    assert bus.request("bundle.lookup", {"address": "深圳市南山区"})["outages"] == []

    # re-applying the bundle in force changes nothing
    assert bus.request("bundle.apply", {"bundle": bundle(1)})["already"] is True

    # bad bundles: refused whole, reported by an event, the previous one stays
    bad_counter = bundle(2, counters=[{"id": "9", "name": "9号", "primary": ["Z"]}], customer_tags=[])
    unknown_tag = bundle(2, customer_tags=[{"hash": OTHER, "tags": ["GOLD"]}])
    stale = bundle(1, bills=[])
    malformed = copy.deepcopy(bundle(2))
    malformed["bills"][0]["amount_fen"] = -5
    for bad, why in (
        (bad_counter, "business 'Z'"),
        (unknown_tag, "GOLD"),
        (stale, "not newer"),
        (malformed, "bills.0.amount_fen"),
    ):
        out = bus.request("bundle.apply", {"bundle": bad})
        assert out["applied"] is False and why in out["error"], out
    refused = bus.request("events.since", {"seq": 0, "prefix": "bundle.refused"})
    assert len(refused) == 4 and "GOLD" in refused[1]["data"]["error"]
    assert bus.request("bundle.status")["version"] == 1
    assert bus.request("bundle.lookup", {"customer_hash": VIP})["bills"][0]["period"] == "2026-10"

    # a newer bundle without the customer: the tags it set before are gone, the rest replaced
    out = bus.request("bundle.apply", {"bundle": bundle(2, customer_tags=[{"hash": OTHER, "tags": ["VIP"]}])})
    assert out["applied"]
    assert bus.request("ticket.issue", {"business": "A", "customer": customer(VIP)})["priority"] == "normal"
    assert bus.request("ticket.issue", {"business": "A", "customer": customer(OTHER)})["priority"] == "vip"
    applied = bus.request("events.since", {"seq": 0, "prefix": "bundle.applied"})
    assert [e["data"]["version"] for e in applied] == [1, 2]


def test_bundle_lookup_needs_a_key(bus: BusClient) -> None:
    with pytest.raises(InvalidRequest, match="customer_hash or address"):
        bus.request("bundle.lookup", {})


def test_bundle_businesses_and_counters_take_effect_and_survive_a_restart(
    bus: BusClient, sync_core: CoreProcess
) -> None:
    waiting = bus.request("ticket.issue", {"business": "C"})
    hq = bundle(
        1,
        businesses=[{"code": "A", "name": "电费缴纳"}, {"code": "E", "name": "电动汽车充电", "name_en": "EV charging"}],
        counters=[{"id": "7", "name": "7号窗口", "primary": ["E"], "secondary": ["A"]}],
        staff=[{"id": "wang", "name": "王芳", "counters": ["7"]}],
    )
    for _ in range(2):  # refused for now, to be tried again; the refusal is logged once
        out = bus.request("bundle.apply", {"bundle": hq})
        assert (out["applied"], out["retry"]) == (False, True)
        assert f"ticket {waiting['number']}" in out["error"] and "business C" in out["error"]
    assert len(bus.request("events.since", {"seq": 0, "prefix": "bundle.refused"})) == 1
    bus.request("ticket.cancel", {"number": waiting["number"]})
    assert bus.request("bundle.apply", {"bundle": hq})["applied"] is True

    def check() -> None:
        assert [c["id"] for c in bus.request("counter.list")] == ["7"]
        gone = next(t for t in bus.request("ticket.list") if t["number"] == waiting["number"])
        assert (gone["state"], gone["business_name"]) == ("cancelled", "C")  # a withdrawn business still lists
        ev = bus.request("ticket.issue", {"business": "E"})
        assert ev["business_name"] == "电动汽车充电"
        with pytest.raises(NotFound, match="no business 'C'"):
            bus.request("ticket.issue", {"business": "C"})

    check()
    bus.request("counter.open", {"counter": "7"})
    assert bus.request("counter.call", {"counter": "7"})["number"] == "E001"
    sync_core.kill9()
    sync_core.start()
    check()
    assert bus.request("counter.list")[0]["current"]["number"] == "E001"


def test_an_outage_with_one_time_zoned_and_one_local_is_refused_not_a_crash(bus: BusClient) -> None:
    mixed = copy.deepcopy(bundle(1))
    mixed["outages"][0]["ends"] = "2026-11-26T15:00:00"  # starts says +08:00, ends says nothing
    out = bus.request("bundle.apply", {"bundle": mixed})
    assert out["applied"] is False
    assert "outages.0" in out["error"] and "both carry a time zone, or neither" in out["error"]
    refused = bus.request("events.since", {"seq": 0, "prefix": "bundle.refused"})
    assert [e["data"]["error"] for e in refused] == [out["error"]]
    assert bus.request("bundle.status")["version"] is None
