"""Alert rules in the core, over the real bus: raised, cleared, acknowledged, all in the log."""

from __future__ import annotations

import pytest

from edge.bus import BusClient
from edge.errors import Conflict, InvalidRequest, NotFound
from tests.conftest import CoreProcess
from tests.panel.busutil import connected, wait_event


def publish(bus: BusClient, topic: str, data: dict[str, object]) -> None:
    bus.request("event.publish", {"topic": topic, "data": data, "durable": True})


def active(bus: BusClient) -> dict[str, dict[str, object]]:
    return {a["key"]: a for a in bus.request("alert.list", {})}


def test_device_offline_and_paper_out_raise_then_clear(bus: BusClient, core: CoreProcess) -> None:
    with connected(bus, core.home, ["alert."]) as sub:
        publish(bus, "device.health", {"device": "printer", "state": "offline", "detail": "paper_out", "counters": {}})
        raised = {wait_event(sub, "alert.raised")["data"]["key"], wait_event(sub, "alert.raised")["data"]["key"]}
        assert raised == {"device_offline:printer", "printer_paper:printer"}
        publish(bus, "device.health", {"device": "printer", "state": "ok", "detail": ""})
        cleared = {wait_event(sub, "alert.cleared")["data"]["key"], wait_event(sub, "alert.cleared")["data"]["key"]}
        assert cleared == raised
    assert active(bus) == {}
    logged = [e["topic"] for e in bus.request("events.since", {"seq": 0, "prefix": "alert."})]
    assert logged.count("alert.raised") == 2 and logged.count("alert.cleared") == 2


def test_acknowledge_records_who_and_only_once(bus: BusClient) -> None:
    publish(bus, "device.health", {"device": "idcard", "state": "offline", "detail": "unplugged"})
    alert = active(bus)["device_offline:idcard"]
    acked = bus.request("alert.acknowledge", {"id": alert["id"], "by": "li"})
    assert acked["acknowledged_by"] == "li" and acked["active"]  # still offline: still active
    with pytest.raises(Conflict, match="already acknowledged by li"):
        bus.request("alert.acknowledge", {"id": alert["id"], "by": "wang"})
    with pytest.raises(NotFound):
        bus.request("alert.acknowledge", {"id": 9999, "by": "wang"})
    topics = [e["topic"] for e in bus.request("events.since", {"seq": 0, "prefix": "alert."})]
    assert topics == ["alert.raised", "alert.acknowledged"]


def test_waiting_per_open_counter_follows_the_threshold(bus: BusClient) -> None:
    for _ in range(3):
        bus.request("ticket.issue", {"business": "A"})
    bus.request("counter.open", {"counter": "1", "staff": "li"})
    assert "waiting_per_counter" not in active(bus)
    rules = {
        k: {"enabled": v["enabled"], "threshold": v["threshold"]} for k, v in bus.request("alert.rules.get").items()
    }
    rules["waiting_per_counter"]["threshold"] = 2
    bus.request("alert.rules.set", {"rules": rules, "by": "wang"})
    alert = active(bus)["waiting_per_counter"]
    assert alert["data"] == {"waiting": 3, "open": 1, "ratio": 3.0}
    bus.request("counter.open", {"counter": "2", "staff": "zhang"})
    bus.request("alert.rules.set", {"rules": rules, "by": "wang"})  # re-evaluates now: 3 / 2 = 1.5
    assert "waiting_per_counter" not in active(bus)
    changed = bus.request("events.since", {"seq": 0, "prefix": "alert.rules_changed"})
    assert changed[0]["data"]["changed"]["waiting_per_counter"]["threshold"] == 2


def test_bad_rules_are_refused_and_change_nothing(bus: BusClient) -> None:
    rules = {
        k: {"enabled": v["enabled"], "threshold": v["threshold"]} for k, v in bus.request("alert.rules.get").items()
    }
    bad = {**rules, "longest_wait": {"enabled": True, "threshold": -5}}
    with pytest.raises(InvalidRequest, match="longest_wait"):
        bus.request("alert.rules.set", {"rules": bad, "by": "wang"})
    with pytest.raises(Conflict, match="share between 0 and 1"):
        bus.request("alert.rules.set", {"rules": {**rules, "negative_emotion": {"threshold": 30}}, "by": "wang"})
    assert bus.request("alert.rules.get")["longest_wait"]["threshold"] == 20


def test_unattended_counter_with_a_queue(bus: BusClient) -> None:
    rules = {
        k: {"enabled": v["enabled"], "threshold": v["threshold"]} for k, v in bus.request("alert.rules.get").items()
    }
    rules["unattended"]["threshold"] = 0
    bus.request("alert.rules.set", {"rules": rules, "by": "wang"})
    bus.request("counter.open", {"counter": "1", "staff": "li"})
    publish(bus, "seat.presence", {"counter": "1", "present": False})
    assert "unattended:1" not in active(bus)  # empty seat, but nobody waits for counter 1
    bus.request("ticket.issue", {"business": "A"})
    publish(bus, "seat.presence", {"counter": "1", "present": False})
    assert active(bus)["unattended:1"]["data"]["waiting"] == 1
    publish(bus, "seat.presence", {"counter": "1", "present": True})
    assert "unattended:1" not in active(bus)


def test_negative_emotion_share(bus: BusClient) -> None:
    publish(bus, "emotion.window", {"zone": "waiting", "positive": 5, "neutral": 3, "negative": 2})
    assert "negative_emotion:waiting" not in active(bus)
    publish(bus, "emotion.window", {"zone": "waiting", "positive": 1, "neutral": 1, "negative": 3})
    assert active(bus)["negative_emotion:waiting"]["data"]["share"] == 0.6


def test_low_rating_is_raised_by_the_tick_and_cleared_by_acknowledging(bus: BusClient, core: CoreProcess) -> None:
    with connected(bus, core.home, ["alert."]) as sub:
        bus.request("ticket.issue", {"business": "A"})
        bus.request("counter.open", {"counter": "1", "staff": "li"})
        bus.request("counter.call", {"counter": "1"})
        done = bus.request("counter.finish", {"counter": "1"})
        bus.request("ticket.evaluate", {"number": done["number"], "score": 2, "reasons": ["等太久"]})
        raised = wait_event(sub, "alert.raised", lambda d: d["rule"] == "low_rating")["data"]
        assert raised["data"] == {"number": "A001", "score": 2, "counter": "1", "staff": "li"}
        bus.request("alert.acknowledge", {"id": raised["id"], "by": "wang"})
        assert wait_event(sub, "alert.cleared")["data"]["id"] == raised["id"]


def test_facts_keep_the_latest_and_count_the_door(bus: BusClient) -> None:
    for direction in ("in", "in", "in", "out"):
        publish(bus, "door.crossed", {"direction": direction, "source": "ir"})
    publish(bus, "sync.status", {"backlog": 12, "last_ack": "2026-03-02T10:00:00+08:00"})
    facts = bus.request("hall.facts")
    assert (facts["door"]["today"]["in"], facts["door"]["today"]["out"], facts["door"]["in_hall"]) == (3, 1, 2)
    assert sum(facts["door"]["today"]["hours_in"]) == 3
    assert facts["sync"]["data"]["backlog"] == 12
    assert facts["heatmap"] is None


def test_a_device_fault_other_than_paper_raises_device_offline(bus: BusClient, core: CoreProcess) -> None:
    from drivers.base import Health

    cover_open = Health("fault", "cover_open", {"printed": 3}).to_dict()
    with connected(bus, core.home, ["alert."]) as sub:
        publish(bus, "device.health", {"device": "printer", **cover_open})
        raised = wait_event(sub, "alert.raised")["data"]
        assert (raised["key"], raised["data"]["state"]) == ("device_offline:printer", "fault")
        assert "故障" in raised["message"]


def test_the_door_is_counted_once_where_ir_beams_and_a_camera_both_watch_it(bus: BusClient) -> None:
    for source in ("camera:entrance", "camera:entrance", "ir:main", "camera:entrance", "ir:main"):
        publish(bus, "door.crossed", {"direction": "in", "source": source})
    facts = bus.request("hall.facts")
    # two camera crossings before the beams reported, then only the beams count
    assert facts["door"]["today"]["in"] == 4
