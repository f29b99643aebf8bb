"""Seat figures and points (hand-worked), people in the hall, and the alerts, in the library and a real core."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from edge.bus import BusClient
from edge.ops.config import PointRule
from edge.ops.seats import Pause, seat_table

RULES = [
    PointRule(name="served", per="served", points=1),
    PointRule(name="5星", per="rating", min_score=5, max_score=5, points=2),
    PointRule(name="差评", per="rating", min_score=1, max_score=2, points=-3),
    PointRule(name="投诉", per="rating", reason="投诉", points=-5),
    PointRule(name="过号", per="no_show", points=-0.5),
]


def test_waits_caused_rates_and_points_hand_worked() -> None:
    tickets = [  # counter 1 (A, D): 王芳 serves two, one no-show; a B ticket is not hers to serve
        {
            "business": "A",
            "state": "done",
            "queued_at": 0,
            "called_at": 600,
            "finished_at": 900,
            "counter": "1",
            "staff": "王芳",
        },
        {
            "business": "D",
            "state": "done",
            "queued_at": 100,
            "called_at": 1300,
            "finished_at": 1600,
            "counter": "1",
            "staff": "王芳",
        },
        {
            "business": "A",
            "state": "no_show",
            "queued_at": 200,
            "called_at": 1700,
            "finished_at": 1800,
            "counter": "1",
            "staff": "王芳",
        },
        {
            "business": "B",
            "state": "issued",
            "queued_at": 300,
            "called_at": None,
            "finished_at": None,
            "counter": None,
            "staff": None,
        },
    ]
    evals = [
        {"score": 5, "reasons": [], "counter": "1", "staff": "王芳"},
        {"score": 1, "reasons": ["投诉", "态度"], "counter": "1", "staff": "王芳"},
    ]
    # paused 900-1200 s: the D ticket (queued 100, called 1300) and the no-show (queued 200, called 1700) waited
    # through all 300 s of it: 600 customer-seconds = 10 customer-minutes; the B ticket is not counter 1's
    table = seat_table(tickets, evals, [Pause("1", "王芳", 900, 1200)], {"1": {"A", "D"}}, RULES, now=2000)
    (me,) = table["staff"]
    assert (me["staff"], me["called"], me["served"], me["no_show"]) == ("王芳", 3, 2, 1)
    assert me["waits_caused_minutes"] == 10.0
    assert me["handling_minutes"] == {"A": 5.0, "D": 5.0} and me["no_show_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert me["ratings"] == {
        "count": 2,
        "average": 3.0,
        "histogram": [1, 0, 0, 0, 1],
        "reasons": {"投诉": 1, "态度": 1},
    }
    # 2 served · 1 + one 5-star · 2 − one low · 3 − one complaint · 5 − one no-show · 0.5 = −4.5
    assert me["points_by_rule"] == {"served": 2.0, "5星": 2.0, "差评": -3.0, "投诉": -5.0, "过号": -0.5}
    assert me["points"] == -4.5
    assert [c["counter"] for c in table["counters"]] == ["1"] and table["counters"][0]["points"] == -4.5


def _rules(bus: BusClient, **changes: float) -> None:
    rules = {
        k: {"enabled": v["enabled"], "threshold": v["threshold"]} for k, v in bus.request("alert.rules.get").items()
    }
    for name, threshold in changes.items():
        rules[name]["threshold"] = threshold
    bus.request("alert.rules.set", {"rules": rules, "by": "wang"})  # evaluates the rules at once


def active(bus: BusClient) -> dict[str, dict[str, object]]:
    return {a["key"]: a for a in bus.request("alert.list", {})}


def test_seats_day_in_the_core_and_a_staff_members_own_view(bus: BusClient) -> None:
    bus.request("counter.open", {"counter": "1", "staff": "王芳"})
    bus.request("counter.open", {"counter": "3", "staff": "李雷"})
    for b in ("A", "A", "A", "B"):
        bus.request("ticket.issue", {"business": b})
    for n, score, reasons in (("A001", 5, []), ("A002", 1, ["态度差"])):
        assert bus.request("counter.call", {"counter": "1"})["number"] == n
        bus.request("counter.finish", {"counter": "1"})
        bus.request("ticket.evaluate", {"number": n, "score": score, "reasons": reasons})
    bus.request("counter.call", {"counter": "1"})
    bus.request("counter.noshow", {"counter": "1"})
    bus.request("counter.call", {"counter": "3"})
    bus.request("counter.finish", {"counter": "3"})
    seats = bus.request("seats.day")
    wang = next(r for r in seats["staff"] if r["staff"] == "王芳")
    assert (wang["served"], wang["no_show"], wang["ratings"]["histogram"]) == (2, 1, [1, 0, 0, 0, 1])
    assert wang["ratings"]["reasons"] == {"态度差": 1}
    assert wang["points"] == 2 * 1 + 2 - 3  # the default rules: +1 served, +2 five stars, −3 two stars or less
    assert {r["staff"] for r in seats["staff"]} == {"王芳", "李雷"}
    assert [(c["counter"], c["name"], c["served"]) for c in seats["counters"]] == [
        ("1", "1号窗口", 2),
        ("3", "3号窗口", 1),
    ]
    own = bus.request("seats.day", {"staff": "李雷"})
    assert [r["staff"] for r in own["staff"]] == ["李雷"] and own["counters"] == []


def publish(bus: BusClient, topic: str, data: dict[str, object]) -> None:
    bus.request("event.publish", {"topic": topic, "data": data, "durable": True})


def test_people_in_the_hall_and_a_camera_that_disagrees(bus: BusClient) -> None:
    for direction in ["in"] * 12 + ["out"] * 2:
        publish(bus, "door.crossed", {"direction": direction, "source": "ir:door"})
    for _ in range(10):
        bus.request("ticket.issue", {"business": "A"})
    est = bus.request("occupancy.get")
    assert [(s["name"], s["people"]) for s in est["sources"]] == [("ir", 10), ("queue", 12)]
    # inverse-variance mean: IR σ = 1 + 0.03·14 = 1.42, queue σ = 1 + 0.3·12 = 4.6
    w_ir, w_q = 1 / 1.42**2, 1 / 4.6**2
    assert est["people"] == pytest.approx((10 * w_ir + 12 * w_q) / (w_ir + w_q), abs=0.05)
    assert est["sigma"] == pytest.approx((w_ir + w_q) ** -0.5, abs=0.05)
    assert "occupancy_disagreement" not in active(bus)
    publish(bus, "zone.occupancy", {"zone": "hall", "people": 1, "source": "camera:entrance"})  # a moved camera
    _rules(bus)  # the core evaluates every few seconds; setting the rules evaluates at once
    alert = active(bus)["occupancy_disagreement"]
    assert alert["data"]["worst"] == "camera"  # type: ignore[index]
    assert "摄像头" in str(alert["message"])
    est = bus.request("occupancy.get")
    assert est["rejected"] == "camera" and est["people"] == pytest.approx(10.2, abs=0.1)


def test_ahead_of_plan_asks_for_one_more_counter(bus: BusClient) -> None:
    cst = timezone(timedelta(hours=8))
    now = datetime.now(cst)
    slot = now.replace(minute=now.minute - now.minute % 30, second=0, microsecond=0)
    day = bus.request("queue.status")["day"]
    rows = [
        {"start": (slot + timedelta(minutes=30 * k)).isoformat(), "businesses": {"B": {"arrivals": 1.0, "counters": 1}}}
        for k in (-1, 0)
    ]
    # capacity: one counter handles up to 3 B customers a half hour at the target, two up to 8, three up to 14
    plan = {"slot_minutes": 30, "rows": rows, "capacity": {"B": [3.0, 8.0, 14.0]}}
    bus.request("plan.save", {"kind": "day", "key": day, "basis": "test", "data": plan})
    bus.request("counter.open", {"counter": "3", "staff": "李雷"})
    for _ in range(6):
        bus.request("ticket.issue", {"business": "B"})
    _rules(bus)
    alert = active(bus)["ahead_of_plan:B"]
    assert alert["data"] == {"business": "B", "actual": 6, "planned": 1.0, "open": 1, "needed": 2}
    assert "open one more counter for B" in str(alert["message"])
    bus.request("counter.open", {"counter": "4", "staff": "韩梅"})  # serves B as a secondary skill
    _rules(bus)
    assert "ahead_of_plan:B" not in active(bus)


def test_negative_expression_share_by_counter_and_by_who_was_serving() -> None:
    from edge.ops.seats import Mood

    tickets = [
        {
            "business": "A",
            "state": "done",
            "queued_at": 0,
            "called_at": 60,
            "finished_at": 240,
            "counter": "1",
            "staff": "王芳",
        }
    ]
    # 4 faces a quarter negative while 王芳 served; 2 faces both negative with nobody at the counter:
    # the counter's share is (4·0.25 + 2·1) / 6 = 0.5, hers 0.25
    moods = [Mood("1", "王芳", 4, 0.25), Mood("1", None, 2, 1.0)]
    table = seat_table(tickets, [], [], {"1": {"A"}}, RULES, now=300, moods=moods)
    assert (table["counters"][0]["faces"], table["counters"][0]["negative_share"]) == (6, 0.5)
    assert (table["staff"][0]["faces"], table["staff"][0]["negative_share"]) == (4, 0.25)
