"""Every queue rule, on the engine with an in-memory database and a moved clock."""

from __future__ import annotations

import json

import pytest

from edge.errors import Conflict, InvalidRequest, NotFound
from edge.identity import make_ref
from tests.edge.queue_helpers import T0, Hall

KEY = b"k" * 32


def test_numbers_are_per_business_and_gap_free() -> None:
    h = Hall()
    got = [h.issue({"business": b})["number"] for b in "AABAC"]
    assert got == ["A001", "A002", "B001", "A003", "C001"]


def test_issue_reply_has_estimate_from_default_service_time() -> None:
    h = Hall()
    h.open({"counter": "1"})
    for _ in range(4):
        h.issue({"business": "A"})
    t = h.issue({"business": "A"})
    # 4 ahead, 3 min each (default for A), counters 1 and... only counter 1 is open for A
    assert (t["people_ahead"], t["wait_minutes"], t["counters_open"]) == (4, 12, 1)
    h.open({"counter": "2"})
    t = h.issue({"business": "A"})
    assert (t["people_ahead"], t["wait_minutes"], t["counters_open"]) == (5, 8, 2)


def test_estimate_says_when_no_counter_serving_the_business_is_open() -> None:
    h = Hall()  # A: 3 min each; counters 1 and 2 have A as primary skill, counter 4 as secondary
    for _ in range(3):
        h.issue({"business": "A"})
    t = h.issue({"business": "A"})
    # nobody serves A yet: no wait to give; from when they open, 3 ahead × 3 min / 2 counters = 4.5 → 5
    assert (t["people_ahead"], t["counters_open"], t["wait_minutes"], t["wait_minutes_after_opening"]) == (
        3,
        0,
        None,
        5,
    )
    h.open({"counter": "3"})  # serves B and C only: changes nothing for A
    assert h.issue({"business": "A"})["counters_open"] == 0
    h.open({"counter": "4"})  # A as secondary skill: 5 ahead × 3 min / 1 counter
    t = h.issue({"business": "A"})
    assert (t["people_ahead"], t["counters_open"], t["wait_minutes"]) == (5, 1, 15)
    assert "wait_minutes_after_opening" not in t
    shown = h.show({"number": "A001"})  # a waiting ticket shown later has the estimate of now
    assert (shown["people_ahead"], shown["counters_open"], shown["wait_minutes"]) == (0, 1, 0)


def test_estimate_learns_from_recent_service_times() -> None:
    h = Hall()
    h.open({"counter": "1"})
    for _ in range(2):
        h.issue({"business": "A"})
        h.call({"counter": "1"})
        h.tick(10)
        h.finish({"counter": "1"})
    h.issue({"business": "A"})
    t = h.issue({"business": "A"})
    assert (t["people_ahead"], t["wait_minutes"]) == (1, 10)


def test_fifo_then_fair_ratio_two_normal_to_one_priority() -> None:
    h = Hall()  # defaults: ratio_normal 2, ratio_priority 1
    for _ in range(4):
        h.issue({"business": "A"})
        h.tick(1)
    for _ in range(2):
        h.issue({"business": "A", "priority": "green"})
        h.tick(1)
    h.open({"counter": "1"})
    order = h.serve_all("1")
    # P first, then 2 normal, then P, then the remaining normals
    assert order == ["A005", "A001", "A002", "A006", "A003", "A004"]


def test_ratio_is_configurable() -> None:
    h = Hall("[queue]\nratio_normal = 1\nratio_priority = 2\n")
    for _ in range(3):
        h.issue({"business": "A"})
    for _ in range(3):
        h.issue({"business": "A", "priority": "vip"})
    h.open({"counter": "1"})
    assert h.serve_all("1") == ["A004", "A005", "A001", "A006", "A002", "A003"]


def test_max_wait_puts_a_long_waiting_normal_ticket_first() -> None:
    h = Hall("[queue]\nmax_wait_minutes = 20\n")
    h.issue({"business": "A"})
    h.tick(25)
    h.issue({"business": "A", "priority": "vip"})
    h.open({"counter": "1"})
    called = h.call({"counter": "1"})
    assert (called["number"], called["rule"]) == ("A001", "max_wait")


@pytest.mark.parametrize(
    ("waited_s", "number", "rule"),
    [
        (20 * 60 - 1, "A002", "fair_ratio"),  # one second short of the limit: the priority ticket's turn
        (20 * 60, "A001", "max_wait"),  # exactly the limit: "has waited max_wait_minutes" holds
        (20 * 60 + 1, "A001", "max_wait"),
    ],
)
def test_max_wait_holds_from_exactly_the_limit(waited_s: int, number: str, rule: str) -> None:
    h = Hall("[queue]\nmax_wait_minutes = 20\n")
    h.issue({"business": "A"})
    h.now += 60
    h.issue({"business": "A", "priority": "vip"})
    h.open({"counter": "1"})
    h.now = T0 + waited_s
    called = h.call({"counter": "1"})
    assert (called["number"], called["rule"]) == (number, rule)


def test_passed_lists_only_tickets_queued_before_the_one_called() -> None:
    h = Hall()
    h.issue({"business": "A"})  # A001 normal, 10:00
    h.tick(5)
    h.issue({"business": "A", "priority": "green"})  # A002, 10:05: called first (priority turn)
    h.tick(1)
    h.issue({"business": "A"})  # A003 normal, 10:06: later than A002, not passed over
    h.tick(1)
    h.issue({"business": "A", "priority": "vip"})  # A004 vip, 10:07: later too
    h.tick(3)  # 10:10
    h.open({"counter": "1"})
    called = h.call({"counter": "1"})
    assert (called["number"], called["passed"]) == ("A002", 1)
    (call,) = h.show({"number": "A002"})["calls"]
    assert call["passed"] == [{"number": "A001", "business": "A", "priority": "normal", "waited_s": 600}]


def test_call_record_names_rule_and_passed_tickets() -> None:
    h = Hall()
    h.issue({"business": "A"})
    h.tick(5)
    h.issue({"business": "A", "priority": "green"})
    h.open({"counter": "1"})
    h.call({"counter": "1"})
    shown = h.show({"number": "A002"})
    (call,) = shown["calls"]
    assert call["rule"] == "fair_ratio"
    assert call["passed"] == [{"number": "A001", "business": "A", "priority": "normal", "waited_s": 300}]


def test_primary_skills_before_secondary() -> None:
    h = Hall()  # counter 1: primary A, secondary D
    h.issue({"business": "D"})
    h.tick(10)
    h.issue({"business": "A"})
    h.issue({"business": "B"})  # counter 1 never serves B
    h.open({"counter": "1"})
    first = h.call({"counter": "1"})
    assert (first["number"], first["rule"]) == ("A001", "fifo")
    h.finish({"counter": "1"})
    second = h.call({"counter": "1"})
    assert (second["number"], second["rule"]) == ("D001", "fifo_secondary")
    h.finish({"counter": "1"})
    with pytest.raises(NotFound):
        h.call({"counter": "1"})
    assert h.numbers() == ["B001"]


def test_call_a_specific_ticket() -> None:
    h = Hall()
    for _ in range(3):
        h.issue({"business": "A"})
    h.open({"counter": "1"})
    called = h.call({"counter": "1", "number": "A003"})
    assert (called["number"], called["rule"]) == ("A003", "specific")
    h.finish({"counter": "1"})
    with pytest.raises(Conflict, match="A003 is done"):
        h.call({"counter": "1", "number": "A003"})


def test_recall_then_no_show_after_max_recalls() -> None:
    h = Hall("[queue]\nmax_recalls = 2\n")
    h.issue({"business": "A"})
    h.open({"counter": "1"})
    h.call({"counter": "1"})
    assert h.recall({"counter": "1"})["recalls"] == 1
    assert h.recall({"counter": "1"})["recalls"] == 2
    third = h.recall({"counter": "1"})
    assert (third["state"], third["end_reason"]) == ("no_show", "recalls_exhausted")
    assert h.counter_list()[0]["current"] is None


def test_no_show_and_serving_states() -> None:
    h = Hall()
    h.issue({"business": "A"})
    h.issue({"business": "A"})
    h.open({"counter": "1"})
    h.call({"counter": "1"})
    assert h.noshow({"counter": "1"})["state"] == "no_show"
    h.call({"counter": "1"})
    assert h.serve({"counter": "1"})["state"] == "serving"
    with pytest.raises(Conflict, match="serving, not called"):
        h.noshow({"counter": "1"})
    assert h.finish({"counter": "1"})["state"] == "done"


def test_transfer_to_business_keeps_number_and_place() -> None:
    h = Hall()
    h.issue({"business": "A"})
    h.tick(5)
    h.issue({"business": "C"})
    h.open({"counter": "1"})
    h.call({"counter": "1"})
    moved = h.transfer({"counter": "1", "business": "C"})
    assert (moved["number"], moved["business"], moved["state"]) == ("A001", "C", "issued")
    h.open({"counter": "2"})  # primary A and C
    assert h.call({"counter": "2"})["number"] == "A001"  # queued earlier than C001
    shown = h.show({"number": "A001"})
    assert [x["state"] for x in shown["history"]] == ["transferred", "called"]
    assert [c["counter"] for c in shown["calls"]] == ["1", "2"]


def test_transfer_to_counter_goes_first_there() -> None:
    h = Hall()
    h.issue({"business": "B"})
    h.issue({"business": "A"})
    h.open({"counter": "1"})
    h.open({"counter": "3"})
    h.call({"counter": "1"})  # A001
    h.transfer({"counter": "1", "to_counter": "3"})
    called = h.call({"counter": "3"})
    assert (called["number"], called["rule"]) == ("A001", "transfer")
    with pytest.raises(InvalidRequest):
        h.transfer({"counter": "3"})


def test_counter_states() -> None:
    h = Hall()
    with pytest.raises(Conflict, match="closed; open or resume"):
        h.call({"counter": "1"})
    h.open({"counter": "1", "staff": "王芳"})
    with pytest.raises(Conflict, match="already open"):
        h.open({"counter": "1"})
    h.issue({"business": "A"})
    h.call({"counter": "1"})
    with pytest.raises(Conflict, match="still has A001"):
        h.pause({"counter": "1", "reason": "break"})
    h.finish({"counter": "1"})
    paused = h.pause({"counter": "1", "reason": "lunch"})
    assert (paused["state"], paused["pause_reason"]) == ("paused", "lunch")
    h.issue({"business": "A"})
    with pytest.raises(Conflict, match="paused"):
        h.call({"counter": "1"})
    h.resume({"counter": "1"})
    assert h.call({"counter": "1"})["number"] == "A002"
    with pytest.raises(NotFound, match="no counter '9'"):
        h.open({"counter": "9"})


def test_day_rollover_restarts_numbers_and_cancels_waiting() -> None:
    h = Hall('[hall]\nid = "t"\nname = "T"\nday_rollover = "04:00"\n')
    h.issue({"business": "A"})
    h.issue({"business": "A"})
    h.now = T0 + 17.5 * 3600  # 03:30 next day: still the same business day
    assert h.issue({"business": "A"})["number"] == "A003"
    h.now = T0 + 18 * 3600 + 60  # 04:01 next day
    t = h.issue({"business": "A"})
    assert (t["number"], t["day"]) == ("A001", "2026-03-03")
    old = h.list_tickets({"day": "2026-03-02"})
    assert {x["state"] for x in old} == {"cancelled"}
    assert {x["end_reason"] for x in old} == {"day_closed"}


def test_day_rollover_frees_counters_left_with_a_customer() -> None:
    h = Hall()
    for _ in range(3):
        h.issue({"business": "A"})
    h.open({"counter": "1"})
    h.open({"counter": "2"})
    h.call({"counter": "1"})
    h.serve({"counter": "1"})
    h.call({"counter": "2"})
    h.now = T0 + 24 * 3600  # next morning, nobody finished
    h.issue({"business": "A"})
    by_number = {t["number"]: t for t in h.list_tickets({"day": "2026-03-02"})}
    assert (by_number["A001"]["state"], by_number["A002"]["state"]) == ("done", "no_show")
    assert by_number["A003"]["state"] == "cancelled"
    assert h.call({"counter": "1"})["number"] == "A001"  # today's first ticket, called at once


def test_evaluation_only_once_and_only_when_done() -> None:
    h = Hall()
    h.issue({"business": "A"})
    h.open({"counter": "1", "staff": "李娜"})
    h.call({"counter": "1"})
    with pytest.raises(Conflict, match="only a finished ticket"):
        h.evaluate({"number": "A001", "score": 5})
    h.finish({"counter": "1"})
    ev = h.evaluate({"number": "A001", "score": 2, "reasons": ["等待太久", " "]})
    assert (ev["score"], ev["reasons"], ev["counter"]) == (2, ["等待太久"], "1")
    with pytest.raises(Conflict, match="already been rated"):
        h.evaluate({"number": "A001", "score": 5})
    row = h.db.one("SELECT staff FROM evaluations")
    assert row is not None and row[0] == "李娜"
    assert h.show({"number": "A001"})["staff"] == "李娜"  # kept on the ticket, whatever happens to the log


def test_customer_reference_is_hashed_and_masked_never_raw() -> None:
    h = Hall()
    ref = make_ref("id", "110101199003071234", name="张小三", key=KEY)
    t = h.issue({"business": "A", "customer": ref.to_dict()})
    assert t["customer"]["masked"] == "1101**********1234"
    assert t["customer"]["name_masked"] == "张*三"
    dump = "\n".join(
        json.dumps(list(map(tuple, h.db.all(f"SELECT * FROM {table}")))) for table in ("tickets", "events")
    )
    assert "110101199003071234" not in dump
    with pytest.raises(InvalidRequest):
        h.issue({"business": "A", "customer": {**ref.to_dict(), "hash": "110101199003071234"}})


def test_vip_tag_gives_priority() -> None:
    h = Hall()
    ref = make_ref("ic", "0012345678", key=KEY)
    h.tag({"hash": ref.hash, "tags": ["VIP"]})
    h.issue({"business": "A"})
    t = h.issue({"business": "A", "customer": ref.to_dict()})
    assert (t["priority"], t["tags"]) == ("vip", ["VIP"])
    with pytest.raises(InvalidRequest, match="unknown tag"):
        h.tag({"hash": ref.hash, "tags": ["GOLD"]})


def test_green_channel_only_where_allowed() -> None:
    h = Hall()
    with pytest.raises(Conflict, match="no green channel"):
        h.issue({"business": "D", "priority": "green"})


def test_appointments_by_booked_time_with_check_in_window() -> None:
    h = Hall()  # early 30 min, late 15 min
    h.book({"code": "BK01", "business": "B", "booked_at": "2026-03-02T10:40:00+08:00"})
    h.book({"code": "BK02", "business": "B", "booked_at": "2026-03-02T10:20:00+08:00"})
    h.book({"code": "BK03", "business": "B", "booked_at": "2026-03-02T09:30:00+08:00"})
    with pytest.raises(Conflict, match=r"too early.*from 10:10"):
        h.checkin({"code": "BK01"})
    h.tick(15)  # 10:15
    first = h.checkin({"code": "BK02"})
    h.tick(1)
    second = h.checkin({"code": "BK01"})
    late = h.checkin({"code": "BK03"})  # 45 min after booking: a normal ticket
    assert (first["priority"], second["priority"]) == ("appointment", "appointment")
    assert (late["priority"], late["note"]) == ("normal", "appointment_lapsed")
    with pytest.raises(Conflict, match="already checked_in"):
        h.checkin({"code": "BK02"})
    h.open({"counter": "3"})
    # BK02 (10:20) before BK01 (10:40) although BK01 checked in later; then the ratio gives a normal turn
    assert h.serve_all("3")[:2] == [first["number"], late["number"]]


def test_hours_enforced_when_configured() -> None:
    h = Hall('[hall]\nid = "t"\nname = "T"\nenforce_opening_hours = true\n', now=T0 - 3 * 3600)  # 07:00
    with pytest.raises(Conflict, match="closed"):
        h.issue({"business": "A"})
    h.now = T0
    assert h.issue({"business": "A"})["number"] == "A001"


def test_events_are_logged_with_the_state_change() -> None:
    h = Hall()
    h.issue({"business": "A"})
    h.open({"counter": "1"})
    h.call({"counter": "1"})
    topics = [e["topic"] for e in h.db.events_since(0)]
    assert topics == ["ticket.issued", "counter.opened", "ticket.called"]
