"""``[services.ops]``: forecasts, staffing targets, shift rules, points and occupancy settings.

Every field has a default, so a hall that says nothing gets 80% of customers
called within 10 minutes, 30-minute slots, three shifts and the example point
rules (+1 per served ticket, +2 per five-star rating, −3 per rating of two
stars or less)::

    >>> cfg = OpsConfig.model_validate({"service_level": 0.9, "extra_holidays": ["2026-06-01"]})
    >>> cfg.service_level, cfg.within_minutes, cfg.extra_holidays[0].isoformat()
    (0.9, 10.0, '2026-06-01')
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
SLOTS = (10, 15, 20, 30, 60)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Shift(_Strict):
    name: str = Field(title="Name", description="Shift name shown on the roster.", min_length=1, max_length=16)
    start: HHMM = Field(title="Starts", description="Local start time, HH:MM.")
    end: HHMM = Field(title="Ends", description="Local end time, HH:MM.")

    @model_validator(mode="after")
    def _order(self) -> Shift:
        if self.end <= self.start:
            raise ValueError(f"shift {self.name}: end {self.end} is not after start {self.start}")
        return self

    @property
    def minutes(self) -> tuple[int, int]:
        """Start and end as minutes after local midnight."""
        return _minutes(self.start), _minutes(self.end)


def _minutes(hhmm: str) -> int:
    hh, mm = hhmm.split(":")
    return int(hh) * 60 + int(mm)


class StaffMember(_Strict):
    id: str = Field(
        title="Id", description="Staff id (as the panel and HQ know them).", pattern=r"^[A-Za-z0-9_-]{1,32}$"
    )
    name: str = Field(title="Name", description="Name on the roster.", min_length=1, max_length=32)
    counters: list[str] = Field(
        default_factory=list,
        title="Counters",
        description="Counters this person may staff; their businesses are the person's skills. Empty: any.",
    )


class PointRule(_Strict):
    name: str = Field(title="Name", description="What the rule rewards, shown beside the points.", max_length=24)
    per: Literal["served", "rating", "no_show", "transfer"] = Field(
        title="Per", description="What is counted: a served ticket, a rating, a no-show or a transfer."
    )
    min_score: int = Field(1, ge=1, le=5, title="Lowest score", description="For ratings: the lowest score counted.")
    max_score: int = Field(5, ge=1, le=5, title="Highest score", description="For ratings: the highest score counted.")
    reason: str = Field("", max_length=32, title="Reason", description="For ratings: only those giving this reason.")
    points: float = Field(ge=-100, le=100, title="Points", description="Points per item counted (negative: deducted).")

    @model_validator(mode="after")
    def _scores(self) -> PointRule:
        if self.min_score > self.max_score:
            raise ValueError(f"point rule {self.name}: min_score {self.min_score} is above max_score {self.max_score}")
        return self


DEFAULT_SHIFTS = (
    Shift(name="全天", start="08:30", end="17:30"),
    Shift(name="上午", start="08:30", end="12:30"),
    Shift(name="下午", start="13:00", end="17:30"),
)
DEFAULT_POINTS = (
    PointRule(name="办结", per="served", points=1),
    PointRule(name="五星好评", per="rating", min_score=5, max_score=5, points=2),
    PointRule(name="差评", per="rating", min_score=1, max_score=2, points=-3),
)


class Occupancy(_Strict):
    camera_coverage: float = Field(
        1.0, gt=0, le=1, title="Camera coverage", description="Share of the hall's floor the cameras' zones see."
    )
    camera_error: float = Field(
        0.2, ge=0, le=2, title="Camera error", description="Relative error of a camera's people count (0.2 = 20%)."
    )
    beam_miss_rate: float = Field(
        0.03, ge=0, le=0.5, title="Beam miss rate", description="Share of door passages an IR beam pair misses."
    )
    people_per_ticket: float = Field(
        1.2, ge=1, le=5, title="People per ticket", description="Customers and companions per ticket in the queue."
    )
    queue_error: float = Field(
        0.3, ge=0, le=2, title="Queue error", description="Relative error of the queue's people estimate."
    )
    fresh_s: float = Field(
        180, ge=10, le=3600, title="Fresh for", description="Seconds a camera count stays usable after it arrives."
    )


class OpsConfig(_Strict):
    service_level: float = Field(
        0.8, gt=0, lt=1, title="Service level", description="Share of customers to call within the target wait."
    )
    within_minutes: float = Field(10.0, gt=0, le=240, title="Target wait", description="Minutes of the service level.")
    slot_minutes: Literal[10, 15, 20, 30, 60] = Field(
        30, title="Slot", description="Minutes per forecast and staffing slot."
    )
    history_weeks: int = Field(
        12, ge=1, le=104, title="History used", description="Weeks of history before the first forecast day used."
    )
    halflife_days: float = Field(
        28, gt=0, le=730, title="Recency half-life", description="A day this many days older weighs half as much."
    )
    extra_holidays: list[date] = Field(
        default_factory=list, title="Local days off", description="Days the hall treats as holidays (local festivals)."
    )
    extra_workdays: list[date] = Field(
        default_factory=list, title="Local working days", description="Days the hall treats as ordinary working days."
    )
    shifts: list[Shift] = Field(
        default_factory=lambda: list(DEFAULT_SHIFTS), min_length=1, title="Shifts", description="Shifts a roster uses."
    )
    max_days_per_week: int = Field(
        5, ge=1, le=7, title="Days per week", description="Most days one person works in a rostered week."
    )
    staff: list[StaffMember] = Field(
        default_factory=list, title="Staff", description="Staff for the roster when HQ's bundle names none."
    )
    points: list[PointRule] = Field(
        default_factory=lambda: list(DEFAULT_POINTS), title="Point rules", description="How seat points are earned."
    )
    occupancy: Occupancy = Field(
        default_factory=Occupancy, title="Occupancy", description="Error model of the people-in-hall sources."
    )
