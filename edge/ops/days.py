"""What kind of day a date is in China: working day, weekend, public holiday, or swapped working day (调休).

The State Council's yearly schedule comes from ``chinese-calendar``; a hall adds
its own days off and working days in ``[services.ops]``. A weekend day that is a
working day by the schedule (调休) counts as an ordinary working day, and a
weekday off (a holiday, or the day given in lieu) counts as a holiday::

    >>> from datetime import date
    >>> cal = Calendar()
    >>> [cal.kind(date(2025, 10, d)).group for d in (1, 4, 10, 11, 12)]
    ['holiday', 'holiday', 'work', 'work', 'sun']
    >>> cal.kind(date(2025, 10, 11)).swapped, cal.kind(date(2025, 10, 10)).weekday
    (True, 4)

For a year the schedule does not cover yet, days fall back to plain weekdays
and weekends, and :attr:`Calendar.unknown_years` says which years did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Group = Literal["work", "sat", "sun", "holiday"]
GROUPS: tuple[Group, ...] = ("work", "sat", "sun", "holiday")


@dataclass(frozen=True)
class DayKind:
    group: Group  # the intraday pattern the day follows
    weekday: int  # 0 = Monday
    swapped: bool = False  # a weekend day worked by the schedule (调休)
    holiday: str | None = None  # the festival's name, when known


@dataclass
class Calendar:
    extra_holidays: Iterable[date] = ()
    extra_workdays: Iterable[date] = ()
    unknown_years: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._off = frozenset(self.extra_holidays)
        self._on = frozenset(self.extra_workdays)

    def kind(self, day: date) -> DayKind:
        wd = day.weekday()
        if day in self._off:
            return DayKind("holiday", wd, holiday="local")
        if day in self._on:
            return DayKind("work", wd, swapped=wd >= 5)
        working, name = self._schedule(day)
        if working is None:
            return DayKind(_plain(wd), wd)
        if working:
            return DayKind("work", wd, swapped=wd >= 5)
        if wd < 5 or name is not None:
            return DayKind("holiday", wd, holiday=name or "in lieu")
        return DayKind(_plain(wd), wd)

    def _schedule(self, day: date) -> tuple[bool | None, str | None]:
        import chinese_calendar

        try:
            working = bool(chinese_calendar.is_workday(day))
            _, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:  # a year the schedule does not cover yet
            self.unknown_years.add(day.year)
            return None, None
        return working, (str(name) if name else None)


def _plain(weekday: int) -> Group:
    return "work" if weekday < 5 else ("sat" if weekday == 5 else "sun")
