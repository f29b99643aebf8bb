"""The forecast on constructed histories whose right answer is known by construction."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from edge.ops.days import Calendar
from edge.ops.forecast import NotEnoughHistory, forecast

# 30-minute slots: 17 is 08:30, 34 is 17:00 (the last slot before 17:30); Saturday 18..23 is 09:00-12:00
WEEKDAY_SLOTS = range(17, 35)
SATURDAY_SLOTS = range(18, 24)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def at(result: object, business: str, day: date) -> dict[int, float]:
    return {s.index: s.arrivals for s in result.slots if s.business == business and s.day == day}  # type: ignore[attr-defined]


def test_a_flat_week_is_forecast_flat() -> None:
    # three weeks, every day of the week the same: 5 arrivals in each half hour from 08:30 to 17:30
    counts = {"A": {d: {s: 5 for s in WEEKDAY_SLOTS} for d in days(date(2026, 3, 2), date(2026, 3, 22))}}
    result = forecast(counts, businesses=["A"], start=date(2026, 3, 23), days=7)
    assert result.span == (17, 34)
    for d in days(date(2026, 3, 23), date(2026, 3, 29)):
        assert at(result, "A", d) == pytest.approx({s: 5.0 for s in WEEKDAY_SLOTS}, abs=1e-3)
    assert result.total("A") == pytest.approx(7 * 18 * 5, abs=0.1)


def test_a_doubled_monday_stays_doubled_and_other_days_stay() -> None:
    # four weeks of working days with 4 per half hour, Mondays 8; Saturdays 09:00-12:00 with 2; Sundays closed
    # (July and August 2026 have no public holiday)
    counts: dict[str, dict[date, dict[int, int]]] = {"B": {}}
    for d in days(date(2026, 7, 6), date(2026, 8, 2)):
        wd = d.weekday()
        if wd < 5:
            counts["B"][d] = {s: 8 if wd == 0 else 4 for s in WEEKDAY_SLOTS}
        elif wd == 5:
            counts["B"][d] = {s: 2 for s in SATURDAY_SLOTS}
    result = forecast(counts, businesses=["B"], start=date(2026, 8, 3), days=7)
    monday, tuesday, friday = (
        at(result, "B", date(2026, 8, 3)),
        at(result, "B", date(2026, 8, 4)),
        at(result, "B", date(2026, 8, 7)),
    )
    assert monday[17] == pytest.approx(8.0, abs=1e-3) and monday[34] == pytest.approx(8.0, abs=1e-3)
    assert tuesday[20] == pytest.approx(4.0, abs=1e-3) and friday[30] == pytest.approx(4.0, abs=1e-3)
    saturday, sunday = at(result, "B", date(2026, 8, 8)), at(result, "B", date(2026, 8, 9))
    assert saturday == pytest.approx({s: 2.0 if s in SATURDAY_SLOTS else 0.0 for s in range(17, 35)}, abs=1e-3)
    assert set(sunday.values()) == {0.0}


def _hall_2025(first: date, last: date) -> dict[str, dict[date, dict[int, int]]]:
    """Working days 4 per half hour, Saturdays 2 (morning), Sundays closed, public holidays 1 per half hour."""
    cal = Calendar()
    per: dict[date, dict[int, int]] = {}
    for d in days(first, last):
        kind = cal.kind(d)
        if kind.group == "work":
            per[d] = {s: 4 for s in WEEKDAY_SLOTS}
        elif kind.group == "holiday":
            per[d] = {s: 1 for s in SATURDAY_SLOTS}
        elif kind.group == "sat":
            per[d] = {s: 2 for s in SATURDAY_SLOTS}
    return {"A": per}


def test_a_holiday_monday_follows_the_holidays_not_mondays() -> None:
    # the history holds Labour Day (1-5 May 2025); 2 June 2025 is a Monday of the Dragon Boat Festival
    counts = _hall_2025(date(2025, 4, 7), date(2025, 6, 1))
    result = forecast(counts, businesses=["A"], start=date(2025, 6, 2), days=2)
    holiday, tuesday = at(result, "A", date(2025, 6, 2)), at(result, "A", date(2025, 6, 3))
    assert holiday == pytest.approx({s: 1.0 if s in SATURDAY_SLOTS else 0.0 for s in range(17, 35)}, abs=1e-3)
    assert tuesday == pytest.approx({s: 4.0 for s in range(17, 35)}, abs=1e-3)


def test_a_swapped_working_saturday_is_a_working_day() -> None:
    # 11 October 2025 is a Saturday worked for National Day (调休): a full working day, not a Saturday morning
    counts = _hall_2025(date(2025, 8, 18), date(2025, 10, 10))
    result = forecast(counts, businesses=["A"], start=date(2025, 10, 11), days=2)
    swapped, sunday = at(result, "A", date(2025, 10, 11)), at(result, "A", date(2025, 10, 12))
    assert swapped == pytest.approx({s: 4.0 for s in range(17, 35)}, abs=1e-3)
    assert set(sunday.values()) == {0.0}


def test_only_history_before_the_first_day_counts() -> None:
    counts = {"A": {d: {20: 3} for d in days(date(2026, 3, 2), date(2026, 3, 15))}}
    counts["A"].update({d: {20: 300} for d in days(date(2026, 3, 16), date(2026, 3, 22))})  # the week forecast
    result = forecast(counts, businesses=["A"], start=date(2026, 3, 16), days=7)
    assert [s.arrivals for s in result.slots] == pytest.approx([3.0] * 7, abs=1e-3)


def test_a_week_of_history_is_needed() -> None:
    counts = {"A": {d: {20: 3} for d in days(date(2026, 3, 10), date(2026, 3, 15))}}
    with pytest.raises(NotEnoughHistory, match="only 6 day"):
        forecast(counts, businesses=["A"], start=date(2026, 3, 16), days=1)
    with pytest.raises(NotEnoughHistory, match="no history before 2026-03-10"):
        forecast(counts, businesses=["A"], start=date(2026, 3, 10), days=1)


def test_a_year_the_schedule_does_not_know_falls_back_to_weekdays() -> None:
    counts = {"A": {d: {20: 2 if d.weekday() < 5 else 0} for d in days(date(2026, 12, 1), date(2026, 12, 31))}}
    result = forecast(counts, businesses=["A"], start=date(2027, 1, 4), days=1)  # 4 Jan 2027 is a Monday
    assert result.unknown_years == (2027,)
    assert at(result, "A", date(2027, 1, 4)) == {20: pytest.approx(2.0, abs=1e-3)}
