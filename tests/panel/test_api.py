"""The panel's API against a real core and a real ``hall panel`` process."""

from __future__ import annotations

import json
import threading
from typing import Any

from edge.bus import BusClient
from tests.conftest import CoreProcess
from tests.panel.busutil import connected, wait_event
from tests.panel.conftest import Client, PanelProcess

CUSTOMER = {"kind": "id", "hash": "ab" * 32, "masked": "1101**********1234", "name_masked": "张*"}


def test_counter_flow_card_and_audit(staff: Client, bus: BusClient, core: CoreProcess) -> None:
    bus.request("ticket.issue", {"business": "A"})
    bus.request("ticket.issue", {"business": "A", "priority": "vip", "customer": CUSTOMER})
    with connected(bus, core.home, ["audit."]) as sub:
        opened = staff.ok("/api/counters/1/open")
        assert (opened["state"], opened["staff"]) == ("open", "staff-li")
        called = staff.ok("/api/counters/1/call")
        assert called["number"] == "A002"  # the VIP goes first
        card = staff.get("/api/counters/1")
        assert card.status_code == 200
        ticket = card.json()["ticket"]
        assert ticket["customer"] == {"kind": "id", "masked": "1101**********1234", "name_masked": "张*"}
        assert ticket["calls"][-1]["rule"] == "fair_ratio"  # both kinds wait: the ratio decides
        assert [p["number"] for p in ticket["calls"][-1]["passed"]] == ["A001"]
        assert "ab" * 32 not in card.text  # the keyed hash never reaches a browser
        staff.ok("/api/counters/1/serve")
        assert staff.ok("/api/counters/1/finish")["state"] == "done"
        is_counter = lambda d: d["action"].startswith("counter.")  # noqa: E731
        actions = [wait_event(sub, "audit.recorded", is_counter)["data"] for _ in range(4)]
    assert [a["action"] for a in actions] == ["counter.open", "counter.call", "counter.serve", "counter.finish"]
    assert all(a["name"] == "staff-li" and a["role"] == "staff" for a in actions)
    assert actions[1]["detail"]["number"] == "A002"
    logged = bus.request("events.since", {"seq": 0, "prefix": "audit."})
    assert "password" not in json.dumps(logged) and len(logged) >= 5  # login + the four actions


def test_refused_actions_say_why_and_are_audited(staff: Client, manager: Client) -> None:
    r = staff.post("/api/counters/1/call")
    assert r.status_code == 409 and "closed" in r.json()["error"]
    r = staff.post("/api/counters/9/open")
    assert r.status_code == 404 and "no counter" in r.json()["error"]
    staff.ok("/api/counters/1/open")
    r = staff.post("/api/counters/1/pause", {"reason": ""})
    assert r.status_code == 400 and "reason" in r.json()["error"]
    assert staff.ok("/api/counters/1/pause", {"reason": "午休"})["pause_reason"] == "午休"
    trail = manager.get("/api/audit").json()
    failed = [a for a in trail if not a["ok"] and a["action"] == "counter.call"]
    assert failed and "closed" in failed[0]["detail"]["error"]


def test_transfer_and_specific_call(staff: Client, bus: BusClient) -> None:
    for _ in range(3):
        bus.request("ticket.issue", {"business": "A"})
    staff.ok("/api/counters/1/open")
    assert staff.ok("/api/counters/1/call", {"number": "A003"})["number"] == "A003"
    moved = staff.ok("/api/counters/1/transfer", {"business": "C", "to_counter": "2"})
    assert (moved["number"], moved["business"], moved["target_counter"]) == ("A003", "C", "2")
    assert staff.get("/api/counters/1").json()["ticket"] is None


def test_dashboard_has_the_hall_at_a_glance(manager: Client, staff: Client, bus: BusClient) -> None:
    bus.request("ticket.issue", {"business": "B"})
    bus.request("counter.open", {"counter": "3", "staff": "zhang"})
    bus.request("counter.call", {"counter": "3"})
    bus.request("counter.finish", {"counter": "3"})
    bus.request("ticket.issue", {"business": "A"})
    bus.request("event.publish", {"topic": "door.crossed", "data": {"direction": "in"}})
    bus.request("event.publish", {"topic": "device.health", "data": {"device": "printer", "state": "ok"}})
    d = manager.get("/api/dashboard").json()
    queues = {b["code"]: b["waiting"] for b in d["status"]["businesses"]}
    assert queues == {"A": 1, "B": 0, "C": 0, "D": 0}
    served = {c["id"]: c["served"] for c in d["stats"]["counters"]}
    assert served["3"] == 1
    assert d["stats"]["staff"] == [
        # opened without a display name: shown by the account's
        {"staff": "zhang", "display": "zhang", "served": 1, "avg_handling_s": d["stats"]["staff"][0]["avg_handling_s"]}
    ]
    assert d["facts"]["door"]["in_hall"] == 1
    # reconciled: the door's 1 (σ = 1 + 0.03·1 = 1.03) and the waiting ticket × 1.2 (σ = 1 + 0.3·1.2 = 1.36),
    # weighted by 1/σ²: (1/1.0609 + 1.2/1.8496) / (1/1.0609 + 1/1.8496) = 1.07, σ = (…)^−½ = 0.82
    occ = d["occupancy"]
    assert [(s["name"], s["people"]) for s in occ["sources"]] == [("door", 1), ("queue", 1.2)]
    assert (occ["people"], occ["sigma"]) == (1.1, 0.8)
    assert d["facts"]["devices"][0]["data"]["state"] == "ok"
    assert d["facts"]["sync"] is None and d["facts"]["heatmap"] is None
    assert staff.get("/api/dashboard").status_code == 403  # staff see their counter, managers the hall


def test_technician_sees_the_dashboard_but_cannot_call(panel: PanelProcess) -> None:
    from tests.panel.conftest import TECH

    tech = Client(panel)
    assert tech.login(*TECH).json()["role"] == "technician"
    assert tech.get("/api/dashboard").status_code == 200
    assert tech.post("/api/counters/1/open").status_code == 403
    assert tech.post("/api/rules", {}, method="PUT").status_code == 403
    tech.close()


def test_rules_are_edited_by_managers(manager: Client, staff: Client) -> None:
    rules = manager.get("/api/rules").json()
    body = {k: {"enabled": v["enabled"], "threshold": v["threshold"]} for k, v in rules.items()}
    body["longest_wait"]["threshold"] = 12
    assert staff.post("/api/rules", body, method="PUT").status_code == 403
    assert manager.ok("/api/rules", body, method="PUT")["longest_wait"]["threshold"] == 12
    body["longest_wait"]["threshold"] = -1
    r = manager.post("/api/rules", body, method="PUT")
    assert r.status_code == 400 and "longest_wait" in r.json()["error"]
    assert manager.get("/api/rules").json()["longest_wait"]["threshold"] == 12
    assert manager.post("/api/rules", {"longest_wait": 5}, method="PUT").status_code == 400
    changes = [a["detail"] for a in manager.get("/api/audit").json() if a["action"] == "alert.rules.set" and a["ok"]]
    assert changes == [{"changed": {"longest_wait": {"enabled": True, "threshold": 12}}}]


def test_alerts_are_acknowledged_from_the_panel(staff: Client, bus: BusClient) -> None:
    bus.request("event.publish", {"topic": "device.health", "data": {"device": "camera-1", "state": "offline"}})
    alerts = staff.get("/api/alerts").json()
    assert [a["rule"] for a in alerts] == ["device_offline"]
    acked = staff.ok(f"/api/alerts/{alerts[0]['id']}/ack")
    assert acked["acknowledged_by"] == "staff-li"
    assert staff.post(f"/api/alerts/{alerts[0]['id']}/ack").status_code == 409


def test_managers_add_accounts_staff_cannot(manager: Client, staff: Client, panel: PanelProcess) -> None:
    new = {"name": "zhou", "display": "周敏", "role": "staff", "password": "Maple-Ridge-4410"}
    assert staff.post("/api/users", new).status_code == 403
    assert manager.ok("/api/users", new)["display"] == "周敏"
    r = manager.post("/api/users", {**new, "name": "wu", "password": "short"})
    assert r.status_code == 400 and "at least 8" in r.json()["error"]
    zhou = Client(panel)
    assert zhou.login("zhou", "Maple-Ridge-4410").status_code == 200
    opened = zhou.ok("/api/counters/2/open")
    assert (opened["staff"], opened["staff_display"]) == ("zhou", "周敏")  # credited to the account, shown by name
    zhou.close()


def test_live_stream_carries_calls_and_notices(staff: Client, bus: BusClient) -> None:
    lines: list[dict[str, Any]] = []
    seen_probe, seen_call = threading.Event(), threading.Event()

    def read() -> None:
        with staff.http.stream("GET", "/api/stream", timeout=30) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                ev = json.loads(line[6:])
                lines.append(ev)
                if ev["topic"] == "staff.requested":
                    seen_probe.set()
                if ev["topic"] == "ticket.called":
                    seen_call.set()
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for _ in range(50):  # the kiosk's "call staff" button, until the stream is seen to be live
        bus.request("event.publish", {"topic": "staff.requested", "data": {"kiosk": "k1"}, "durable": False})
        if seen_probe.wait(0.2):
            break
    assert seen_probe.is_set()
    bus.request("ticket.issue", {"business": "A", "customer": CUSTOMER})
    staff.ok("/api/counters/1/open")
    staff.ok("/api/counters/1/call")
    assert seen_call.wait(15)
    called = next(e for e in lines if e["topic"] == "ticket.called")
    assert called["data"]["number"] == "A001"
    assert "hash" not in called["data"]["customer"]
    notices = staff.get("/api/counters/1").json()["notices"]
    assert notices and notices[0]["topic"] == "staff.requested"
