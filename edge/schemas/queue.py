"""Queue requests (tickets, counters, appointments, evaluations) and their events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.schemas import DayText

Number = Field(pattern=r"^[A-Z]\d{3,5}$", description="Ticket number, e.g. A001.")
CounterId = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
Day = Field(default=None, description="Business day; today if absent.")


class Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Customer(Req):
    """A card holder as the box knows them: keyed hash and masked forms (see edge.identity)."""

    kind: Literal["id", "ic"]
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    masked: str = Field(min_length=1, max_length=32)
    name_masked: str = Field("", max_length=16)
    also: list[Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] = Field(
        default_factory=list,
        max_length=4,
        description="Hashes under the previous customer keys still accepted during HQ's key rotation.",
    )

    @field_validator("masked")
    @classmethod
    def _masked(cls, value: str) -> str:
        if sum(ch.isdigit() for ch in value) > 8:
            raise ValueError("shows too many digits: send the masked form, never the number")
        return value


class TicketIssue(Req):
    business: str = Field(pattern=r"^[A-Z]$")
    priority: Literal["normal", "vip", "green"] = "normal"
    customer: Customer | None = None
    channel: str = Field("kiosk", max_length=16, description="Where the ticket was taken.")


class TicketRef(Req):
    number: str = Number
    day: DayText | None = Day


class TicketList(Req):
    """One page of a day's tickets in issue order; the next page starts ``after`` the last ticket's id."""

    state: str | None = Field(None, pattern=r"^(issued|called|serving|done|no_show|transferred|cancelled)$")
    business: str | None = Field(None, pattern=r"^[A-Z]$")
    day: DayText | None = Day
    limit: int = Field(500, ge=1, le=5000, description="Most tickets in this page.")
    after: str | None = Field(
        None, pattern=r"^[0-9a-f]{32}$", description="Id of the last ticket of the previous page (the cursor)."
    )


class TicketEvaluate(Req):
    number: str = Number
    day: DayText | None = Day
    score: int = Field(ge=1, le=5)
    reasons: list[str] = Field(default_factory=list, max_length=8)


class CounterRef(Req):
    counter: str = CounterId


class CounterOpen(Req):
    counter: str = CounterId
    staff: str = Field("", max_length=32, description="Who is credited: the account signed in (reports count by it).")
    staff_display: str = Field("", max_length=32, description="How they are shown; default: the account name.")


class CounterPause(Req):
    counter: str = CounterId
    reason: str = Field(min_length=1, max_length=64)


class CounterCall(Req):
    counter: str = CounterId
    number: str | None = Field(None, pattern=r"^[A-Z]\d{3,5}$")


class CounterTransfer(Req):
    counter: str = CounterId
    business: str | None = Field(None, pattern=r"^[A-Z]$")
    to_counter: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,16}$")


class AppointmentBook(Req):
    code: str = Field(pattern=r"^[A-Za-z0-9]{4,16}$")
    business: str = Field(pattern=r"^[A-Z]$")
    booked_at: datetime
    customer: Customer | None = None


class AppointmentCheckin(Req):
    code: str | None = Field(None, pattern=r"^[A-Za-z0-9]{4,16}$")
    customer: Customer | None = None


class CustomerTag(Req):
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    tags: list[str] = Field(max_length=16)


class Empty(Req):
    pass


class CallRecord(Req):
    """What ``ticket.show`` returns under ``calls``: why a ticket was chosen."""

    counter: str
    at: str
    rule: str
    detail: str
    passed: list[dict[str, Any]]


REQUESTS: dict[str, type[BaseModel]] = {
    "ticket.issue": TicketIssue,
    "ticket.show": TicketRef,
    "ticket.cancel": TicketRef,
    "ticket.list": TicketList,
    "ticket.evaluate": TicketEvaluate,
    "counter.open": CounterOpen,
    "counter.close": CounterRef,
    "counter.pause": CounterPause,
    "counter.resume": CounterRef,
    "counter.call": CounterCall,
    "counter.recall": CounterRef,
    "counter.serve": CounterRef,
    "counter.transfer": CounterTransfer,
    "counter.noshow": CounterRef,
    "counter.finish": CounterRef,
    "counter.list": Empty,
    "queue.status": Empty,
    "appointment.book": AppointmentBook,
    "appointment.checkin": AppointmentCheckin,
    "customer.tag": CustomerTag,
}

# Requests that only read; everything else is a write and is remembered for retries.
READS = frozenset({"ticket.show", "ticket.list", "counter.list", "queue.status"})

EVENTS = frozenset(
    {
        "ticket.issued",
        "ticket.called",
        "ticket.recalled",
        "ticket.serving",
        "ticket.finished",
        "ticket.no_show",
        "ticket.transferred",
        "ticket.cancelled",
        "counter.opened",
        "counter.closed",
        "counter.paused",
        "counter.resumed",
        "evaluation.recorded",
        "appointment.booked",
        "appointment.checked_in",
        "customer.tagged",
        "day.rolled",
    }
)
