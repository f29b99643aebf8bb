"""The kiosk's state, one group per flow; every group starts blank for each customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Offer:
    """A business as the kiosk offers it (the core's list, which HQ's bundle may change)."""

    code: str
    name: str
    name_en: str
    icon: str
    green_channel: bool


@dataclass
class Visit:
    """Who is at the kiosk and the ticket they take: card, green channel, elderly mode, ticket, printer."""

    customer: dict[str, Any] | None = None  # the card's keyed reference (hash, masked forms)
    card: dict[str, Any] = field(default_factory=dict)
    green: bool = False
    elderly: bool = False
    ticket: dict[str, Any] | None = None
    print_state: str = "none"  # none, printing, printed, failed, unknown
    code: str = ""  # an appointment code being typed


@dataclass
class Lookup:
    """Self-service look-ups: the customer's data from HQ's bundle, outages of an area picked."""

    found: dict[str, Any] | None = None
    area: str | None = None
    outages: list[dict[str, Any]] | None = None


@dataclass
class Repair:
    """The repair form (what is wrong, where, the phone a crew calls), its answer, and "my report"."""

    kind: str | None = None
    area: str | None = None
    phone: str = ""
    sent: dict[str, Any] | None = None  # the core's answer: reference, masked phone
    mine: list[dict[str, Any]] | None = None  # reports found for "my report"
    ref_digits: str = ""  # a reference's digits being typed


@dataclass
class Face:
    """The face flow under way: a ticket by face or an enrolment after consent, asked of the vision service.

    ``request`` names it in the events; ``step`` is what the camera asks now (look, blink, turn_left,
    turn_right); ``candidate`` is who the vision service names, until the customer confirms or not.
    """

    mode: str | None = None  # "ticket" or "enrol"
    request: str = ""
    deadline: float = 0.0
    step: str = "look"
    candidate: dict[str, Any] | None = None
    masked: str = ""  # the consenting customer's card, while enrolling


@dataclass
class Consent:
    """The consent screen: the purposes the customer ticked, and whether HQ tags them VIP (else no VIP purpose)."""

    purposes: set[str] = field(default_factory=set)
    vip: bool = False
