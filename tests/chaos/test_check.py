"""The invariant checks of ``hall chaos`` catch what they are there to catch.

Each case is worked by hand: a hall log and an HQ store that agree pass; a duplicated, missing,
reordered or misfiled event, a gap in ticket numbers, a lost acknowledged ticket, a device fault
never reported or never cleared each fail, with a line naming what is wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chaos.check import (
    Acked,
    Episode,
    Event,
    Gap,
    Health,
    Ticket,
    check_all_clear,
    check_devices,
    check_events,
    check_tickets,
)
from edge.schemas.sync import Lane

DAY = "2026-03-02"


def _ticket(seq: int, series: str = "A", day: str = DAY) -> Ticket:
    return Ticket(f"{day}-{series}{seq}", day, series, seq, f"{series}{seq:03d}")


# -- tickets ---------------------------------------------------------------------------------------


def test_acknowledged_tickets_held_with_numbers_in_a_row_pass() -> None:
    held = [_ticket(1), _ticket(2), _ticket(3), _ticket(1, "B"), _ticket(1, day="2026-03-03")]
    acked = [Acked(f"{DAY}-A2", "A002"), Acked(f"{DAY}-B1", "B001")]
    result = check_tickets(acked, held)
    assert result.held and result.problems == []


def test_a_lost_acknowledged_ticket_fails() -> None:
    result = check_tickets([Acked("gone", "A004")], [_ticket(1), _ticket(2), _ticket(3)])
    assert not result.held
    assert result.problems == ["acknowledged ticket A004 (gone) is not in the hall's database"]


def test_a_ticket_held_under_another_number_fails() -> None:
    result = check_tickets([Acked(f"{DAY}-A2", "A005")], [_ticket(1), _ticket(2)])
    assert result.problems == [f"acknowledged ticket {DAY}-A2 was A005, the hall holds it as A002"]


def test_a_gap_in_the_numbers_fails() -> None:
    result = check_tickets([], [_ticket(1), _ticket(2), _ticket(5), _ticket(6)])
    assert result.problems == [f"{DAY} A: numbers 3..4 missing (held: 1..2, 5..6)"]


def test_a_number_given_twice_fails() -> None:
    twice = Ticket("other", DAY, "A", 2, "A002")
    result = check_tickets([], [_ticket(1), _ticket(2), twice, _ticket(3)])
    assert not result.held
    assert result.problems[0] == f"{DAY} A: numbers given twice: 2"


# -- events at HQ ------------------------------------------------------------------------------------

# seqs 1..6 of a hall: tickets (records), an alert, door counts (analytics)
LOG = [
    Event(1, "e1", "ticket.issued"),
    Event(2, "e2", "door.crossed"),
    Event(3, "e3", "alert.raised"),
    Event(4, "e4", "ticket.called"),
    Event(5, "e5", "door.crossed"),
    Event(6, "e6", "ticket.finished"),
]
LANE: dict[str, Lane] = {"ticket.issued": "records", "ticket.called": "records", "ticket.finished": "records"}
LANE |= {"door.crossed": "analytics", "alert.raised": "alerts", "sync.gap": "records"}


def _at_hq(events: list[Event], order: list[int] | None = None) -> list[Event]:
    by_seq = {e.seq: e for e in events}
    seqs = order if order is not None else [e.seq for e in events]
    return [Event(s, by_seq[s].id, by_seq[s].topic, LANE[by_seq[s].topic]) for s in seqs]


def test_every_event_once_in_order_passes_even_arriving_lane_by_lane() -> None:
    # the alerts lane first, then records, then analytics: in order within each lane
    result = check_events(LOG, _at_hq(LOG, [3, 1, 4, 6, 2, 5]), head=6, reclaimed={}, gaps=[])
    assert result.held, result.problems


def test_an_event_held_twice_at_hq_fails() -> None:
    hq = _at_hq(LOG, [1, 2, 3, 4, 4, 5, 6])
    result = check_events(LOG, hq, head=6, reclaimed={}, gaps=[])
    assert result.problems == ["seq 4 (ticket.called) is at HQ twice"]


def test_an_event_missing_at_hq_fails() -> None:
    result = check_events(LOG, _at_hq(LOG, [1, 2, 3, 5, 6]), head=6, reclaimed={}, gaps=[])
    assert result.problems == ["seq 4 (ticket.called, lane records) never reached HQ"]


def test_events_of_one_lane_out_of_order_fail() -> None:
    result = check_events(LOG, _at_hq(LOG, [1, 6, 4, 2, 3, 5]), head=6, reclaimed={}, gaps=[])
    assert result.problems == ["seq 4 arrived at HQ after seq 6 of lane records"]


def test_another_event_under_the_same_seq_or_in_the_wrong_lane_fails() -> None:
    hq = _at_hq(LOG)
    hq[3] = Event(4, "forged", "ticket.called", "records")
    hq[4] = Event(5, "e5", "door.crossed", "records")
    result = check_events(LOG, hq, head=6, reclaimed={}, gaps=[])
    assert result.problems == [
        "seq 5 (door.crossed) arrived in lane records, its topic's lane is analytics",
        "seq 4 is ticket.called e4 in the hall, ticket.called forged at HQ",
    ]


def test_events_reclaimed_after_acknowledgement_and_shed_analytics_are_accounted_for() -> None:
    gap = Event(7, "e7", "sync.gap")
    # seqs 1 and 2 were reclaimed after HQ held them; 5 was shed on a full disk and never sent
    hall = [LOG[2], LOG[3], LOG[5], gap]
    hq = _at_hq([*LOG, gap], [3, 1, 4, 6, 7, 2])
    result = check_events(hall, hq, head=7, reclaimed={"records": 1, "analytics": 2}, gaps=[Gap(5, 5)])
    assert result.held, result.problems


def test_an_event_gone_from_the_hall_but_neither_reclaimed_nor_shed_fails() -> None:
    hall = [e for e in LOG if e.seq != 5]
    result = check_events(hall, _at_hq(LOG, [1, 2, 3, 4, 6]), head=6, reclaimed={"analytics": 2}, gaps=[])
    assert result.problems == ["seq 5 is neither in the hall's log, nor at HQ, nor in a recorded sync.gap"]


def test_a_gap_that_sheds_records_fails() -> None:
    hall = [e for e in LOG if e.seq != 4]
    hq = _at_hq(LOG, [1, 2, 3, 5, 6])
    result = check_events(hall, hq, head=6, reclaimed={}, gaps=[Gap(4, 4, "records")])
    assert result.problems == ["a sync.gap shed seqs 4..4 of lane records: only analytics may be shed"]


# -- devices -----------------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


UNPLUGGED = Episode("idcard", "idcard-unplug", _at(10), _at(20))


def test_a_fault_reported_and_cleared_after_the_device_returned_passes() -> None:
    health = [
        Health(1, _at(0), "idcard", "ok"),
        Health(5, _at(11), "idcard", "offline"),
        Health(9, _at(22), "idcard", "ok"),
    ]
    assert check_devices([UNPLUGGED], health).held


def test_a_fault_never_cleared_fails() -> None:
    health = [Health(1, _at(0), "idcard", "ok"), Health(5, _at(11), "idcard", "offline")]
    result = check_devices([UNPLUGGED], health)
    assert result.problems == [
        "idcard idcard-unplug at 09:00:10: never reported ok again after it returned at 09:00:20"
    ]


def test_a_fault_never_reported_fails() -> None:
    health = [Health(1, _at(0), "idcard", "ok"), Health(5, _at(11), "printer", "fault")]
    result = check_devices([UNPLUGGED], health)
    assert result.problems == ["idcard idcard-unplug at 09:00:10: no fault or offline reported"]


def test_an_ok_from_before_the_device_returned_does_not_clear_it() -> None:
    health = [Health(5, _at(11), "idcard", "offline"), Health(6, _at(15), "idcard", "ok")]
    result = check_devices([UNPLUGGED], health)
    assert result.problems == [
        "idcard idcard-unplug at 09:00:10: never reported ok again after it returned at 09:00:20"
    ]


def test_a_fault_from_before_the_episode_does_not_count_as_reported() -> None:
    health = [Health(5, _at(2), "idcard", "offline"), Health(6, _at(25), "idcard", "ok")]
    result = check_devices([UNPLUGGED], health)
    assert result.problems == ["idcard idcard-unplug at 09:00:10: no fault or offline reported"]


def test_pins_driven_wildly_need_no_fault_but_must_not_leave_one() -> None:
    wild = Episode("ir", "ir-wild", _at(10), _at(15), expect_fault=False)
    assert check_devices([wild], [Health(1, _at(0), "ir", "ok")]).held
    stuck = [Health(1, _at(0), "ir", "ok"), Health(2, _at(12), "ir", "fault")]
    assert check_devices([wild], stuck).problems == [
        "ir ir-wild at 09:00:10: never reported ok again after it returned at 09:00:15"
    ]


def test_a_device_left_in_fault_for_any_cause_fails_and_one_back_to_ok_passes() -> None:
    health = [
        Health(1, _at(0), "voice", "ok"),
        Health(4, _at(5), "voice", "fault"),  # a full disk: no room for the announcement's sound
        Health(6, _at(9), "voice", "ok"),
        Health(7, _at(9), "camera:entrance", "ok"),
        Health(8, _at(12), "camera:entrance", "offline"),
        Health(9, _at(12), "printer", "fault"),
        Health(11, _at(20), "printer", "ok"),
    ]
    result = check_all_clear(health)
    assert result.problems == ["camera:entrance is left offline"]
    assert check_all_clear([*health, Health(12, _at(25), "camera:entrance", "ok")]).held
