"""Hall time: the business day (which rolls over at a configured local time)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from edge.config import HallSection

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def business_day(now: float, zone: ZoneInfo, rollover: time) -> str:
    """The business day ``now`` belongs to: before the rollover time it is still yesterday.

    >>> from zoneinfo import ZoneInfo
    >>> z = ZoneInfo("Asia/Shanghai")
    >>> business_day(datetime(2026, 3, 2, 3, 59, tzinfo=z).timestamp(), z, time(4, 0))
    '2026-03-01'
    >>> business_day(datetime(2026, 3, 2, 4, 0, tzinfo=z).timestamp(), z, time(4, 0))
    '2026-03-02'
    """
    local = datetime.fromtimestamp(now, zone)
    if local.time() < rollover:
        local -= timedelta(days=1)
    return local.date().isoformat()


def is_open(now: float, hall: HallSection) -> bool:
    """Whether ``now`` falls inside the hall's opening hours."""
    local = datetime.fromtimestamp(now, ZoneInfo(hall.timezone))
    day = WEEKDAYS[local.weekday()]
    hhmm = local.strftime("%H:%M")
    return any(day in oh.days and oh.open <= hhmm < oh.close for oh in hall.opening_hours)


def local_hhmm(ts: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, zone).strftime("%H:%M")
