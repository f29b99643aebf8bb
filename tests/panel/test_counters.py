"""A counter belongs to the account signed in at it: another member of staff cannot act there, a manager can."""

from __future__ import annotations

from edge.bus import BusClient
from tests.panel.conftest import STAFF, Client, PanelProcess, add_user

ZHOU = ("staff-zhou", "Maple-Ridge-4410")


def test_staff_act_only_at_their_own_counter(
    panel: PanelProcess, staff: Client, manager: Client, bus: BusClient
) -> None:
    add_user(panel.home, ZHOU[0], "staff", ZHOU[1])
    zhou = Client(panel)
    assert zhou.login(*ZHOU).status_code == 200
    for _ in range(3):
        bus.request("ticket.issue", {"business": "A"})
    assert staff.ok("/api/counters/1/open")["staff"] == STAFF[0]
    assert staff.get("/api/counters/1").json()["desk"] == {
        "holder": {"name": STAFF[0], "display": STAFF[0]},
        "mine": True,
        "can_act": True,
    }
    assert zhou.get("/api/counters/1").json()["desk"]["can_act"] is False
    for action in ("call", "pause", "close"):
        r = zhou.post(f"/api/counters/1/{action}", {"reason": "午休"})
        assert r.status_code == 403, action
        assert "staff-li" in r.json()["error"] and "经理" in r.json()["error"]
    r = zhou.post("/api/counters/1/open")
    assert r.status_code == 409 and "已由 staff-li 签入" in r.json()["error"]
    assert {c["id"]: c["current"] for c in bus.request("counter.list")}["1"] is None  # nothing was called there
    # her own counter: the ticket is hers
    zhou.ok("/api/counters/2/open")
    called = zhou.ok("/api/counters/2/call")
    assert bus.request("ticket.show", {"number": called["number"]})["staff"] == ZHOU[0]
    # one counter at a time
    zhou.ok("/api/counters/2/finish")
    r = zhou.post("/api/counters/3/open")
    assert r.status_code == 409 and "签退" in r.json()["error"]
    # a manager may act at any counter; the ticket stays credited to the person signed in there
    at_li = manager.ok("/api/counters/1/call")
    assert bus.request("ticket.show", {"number": at_li["number"]})["staff"] == STAFF[0]
    manager.ok("/api/counters/1/noshow")
    manager.ok("/api/counters/1/close")  # signs li out of counter 1
    assert zhou.post("/api/counters/1/open").status_code == 409  # zhou still holds counter 2
    zhou.ok("/api/counters/2/close")
    assert zhou.ok("/api/counters/1/open")["staff"] == ZHOU[0]
    refused = [a for a in manager.get("/api/audit").json() if a["name"] == ZHOU[0] and not a["ok"]]
    assert {a["action"] for a in refused} >= {"counter.call", "counter.pause", "counter.close", "counter.open"}
    zhou.close()


def test_a_counter_opened_elsewhere_needs_a_manager(staff: Client, manager: Client, bus: BusClient) -> None:
    bus.request("counter.open", {"counter": "3", "staff": "zhang"})  # at the box, `hall counter open 3`
    r = staff.post("/api/counters/3/pause", {"reason": "午休"})
    assert r.status_code == 403 and "不是您签入的窗口" in r.json()["error"]
    assert manager.ok("/api/counters/3/pause", {"reason": "午休"})["state"] == "paused"


def test_two_people_of_one_name_are_told_apart_in_the_day_s_figures(
    panel: PanelProcess, manager: Client, bus: BusClient
) -> None:
    import subprocess
    import sys

    people = [("li-ming-1", "Cedar-Brook-7731", "3号楼"), ("li-ming-2", "Aspen-Hollow-1902", "4号楼")]
    clients = []
    for i, (name, password, _) in enumerate(people, start=1):
        subprocess.run(
            [sys.executable, "-m", "edge", "users", "add", name, "--role", "staff", "--display", "李明",
             "--password-stdin"],
            input=password + "\n", env={**__import__("os").environ, "HALL_HOME": str(panel.home.root)},
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        client = Client(panel)
        assert client.login(name, password).status_code == 200
        bus.request("ticket.issue", {"business": "A"})
        opened = client.ok(f"/api/counters/{i}/open")
        assert (opened["staff"], opened["staff_display"]) == (name, "李明")
        called = client.ok(f"/api/counters/{i}/call")
        client.ok(f"/api/counters/{i}/serve")
        client.ok(f"/api/counters/{i}/finish")
        ticket = bus.request("ticket.show", {"number": called["number"]})
        assert (ticket["staff"], ticket["staff_display"]) == (name, "李明")
        clients.append(client)
    staff = sorted((s["staff"], s["display"], s["served"]) for s in bus.request("stats.day")["staff"])
    assert staff == [("li-ming-1", "李明", 1), ("li-ming-2", "李明", 1)]
    seats = manager.get("/api/ops/day").json()["seats"]["staff"]  # the operations page's seat table
    assert sorted((r["staff"], r["name"], r["served"]) for r in seats) == [
        ("li-ming-1", "李明 (li-ming-1)", 1),
        ("li-ming-2", "李明 (li-ming-2)", 1),
    ]
    mine = clients[1].get("/api/ops/day").json()["seats"]["staff"]  # a member of staff sees their own row
    assert [(r["staff"], r["served"]) for r in mine] == [("li-ming-2", 1)]
    for client in clients:
        client.close()
