"""HQ sync: reading the log by lane, acknowledgements, shedding, and HQ's down bundles.

Lanes. Every event of the log belongs to exactly one lane, decided by its topic
alone (:func:`lane_of`), and the lanes are shipped in priority order::

    alerts     topics under alert.
    records    everything else: tickets, counters, evaluations, appointments, …
    analytics  aggregates: analytics., flow., heatmap., occupancy., emotion., door., seat.

    >>> lane_of("alert.raised"), lane_of("ticket.issued"), lane_of("flow.counted")
    ('alerts', 'records', 'analytics')

Within a lane events go up strictly in ``seq`` order and HQ keeps one cursor per
lane (the last seq it holds of that lane); a batch names the cursor it follows
(``after``) and HQ refuses it when that is not its cursor, so a lane can never
have a hole at HQ. Across lanes, priority decides which lane's ready batch goes
first: after an outage the alerts arrive before the day's tickets, and the
tickets before the analytics. The union of the lanes is the whole log, so once
drained HQ holds every seq of the hall exactly once and can order them by seq.
The lane of a topic is part of the protocol: moving a prefix to another lane is a
protocol change.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.schemas.records import FormTemplate

Lane = Literal["alerts", "records", "analytics"]
LANES: tuple[Lane, ...] = ("alerts", "records", "analytics")
ALERT_PREFIXES = ("alert.",)
ANALYTICS_PREFIXES = ("analytics.", "door.", "emotion.", "flow.", "heatmap.", "occupancy.", "seat.")
HASH = r"^[0-9a-f]{64}$"


def lane_of(topic: str) -> Lane:
    """The lane an event of ``topic`` travels in."""
    if topic.startswith(ALERT_PREFIXES):
        return "alerts"
    if topic.startswith(ANALYTICS_PREFIXES):
        return "analytics"
    return "records"


def lane_sql(lane: Lane) -> str:
    """An SQL condition on ``topic`` selecting ``lane`` (prefix ranges, so the topic index serves it).

    >>> lane_sql("alerts")
    "(topic >= 'alert.' AND topic < 'alert/')"
    """
    if lane == "alerts":
        return _ranges(ALERT_PREFIXES)
    if lane == "analytics":
        return _ranges(ANALYTICS_PREFIXES)
    return f"NOT {_ranges(ALERT_PREFIXES)} AND NOT {_ranges(ANALYTICS_PREFIXES)}"


def _ranges(prefixes: tuple[str, ...]) -> str:
    # every prefix ends with '.', and '/' is the character right after '.'
    parts = [f"(topic >= '{p}' AND topic < '{p[:-1]}/')" for p in prefixes]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncBatch(_Req):
    lane: Lane = Field(description="Which lane to read.")
    after: int = Field(ge=0, description="HQ's cursor in this lane: events with a greater seq are returned.")
    limit: int = Field(1000, ge=1, le=5000, description="Most events returned.")
    text: bool = Field(
        False, description="Each event's data as the JSON text the log holds, not parsed (what the agent sends on)."
    )
    packed: bool = Field(
        False,
        description="The batch as HQ takes it (lane, after, head, events), JSON built from the log's text, "
        "gzip-compressed and base64-encoded in `body`, with `count` and `last` (its last seq).",
    )


class SyncAcked(_Req):
    lane: Lane
    seq: int = Field(ge=0, description="HQ holds every event of this lane up to this seq.")
    keep_s: float = Field(
        7 * 86400, ge=0, le=366 * 86400, description="Acknowledged events younger than this stay in the log."
    )


class SyncShed(_Req):
    max_events: int = Field(ge=1, le=10_000_000, description="Most unacknowledged analytics events to drop.")
    reason: str = Field("disk full", min_length=1, max_length=120)


class SyncLink(_Req):
    ok: bool = Field(description="Whether the last exchange with HQ succeeded.")
    error: str | None = Field(None, max_length=500, description="The last error, when not ok.")
    url: str | None = Field(None, max_length=300)


class Empty(_Req):
    pass


class BundleApply(_Req):
    bundle: dict[str, Any] = Field(description="A down bundle as HQ published it; validated whole by the core.")


class BundleLookup(_Req):
    customer_hash: str | None = Field(None, pattern=HASH, description="Keyed hash of the customer (edge.identity).")
    also: list[Annotated[str, Field(pattern=HASH)]] = Field(
        default_factory=list, max_length=4, description="The customer's hashes under keys still in their overlap."
    )
    address: str | None = Field(None, min_length=2, max_length=200, description="Supply address.")

    @model_validator(mode="after")
    def _one(self) -> BundleLookup:
        if not self.customer_hash and not self.address:
            raise ValueError("give customer_hash or address")
        return self


# -- the down bundle -----------------------------------------------------------
class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BundleBusiness(_Item):
    code: str = Field(pattern=r"^[A-Z]$")
    name: str = Field(min_length=1, max_length=32)
    name_en: str = Field("", max_length=48)


class BundleCounter(_Item):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,16}$")
    name: str = Field(min_length=1, max_length=32)
    name_en: str = Field("", max_length=48)
    primary: list[str] = Field(min_length=1, max_length=26)
    secondary: list[str] = Field(default_factory=list, max_length=26)


class BundleStaff(_Item):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    name: str = Field(min_length=1, max_length=32)
    counters: list[str] = Field(default_factory=list, max_length=64)
    roles: list[str] = Field(default_factory=list, max_length=8)


class BundleTags(_Item):
    hash: str = Field(pattern=HASH)
    tags: list[str] = Field(max_length=16)
    display_name: str = Field(
        "", max_length=32, description="How staff greet the customer (张先生): shown on a VIP arrival, never the card."
    )


class Outage(_Item):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    kind: Literal["planned", "fault"] = "planned"
    addresses: list[str] = Field(min_length=1, max_length=500, description="Address prefixes affected.")
    starts: datetime
    ends: datetime | None = None
    text: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _order(self) -> Outage:
        if self.ends is None:
            return self
        if (self.starts.tzinfo is None) != (self.ends.tzinfo is None):
            raise ValueError(f"outage {self.id}: starts and ends must both carry a time zone, or neither")
        if self.ends <= self.starts:
            raise ValueError(f"outage {self.id} ends before it starts")
        return self


class Bill(_Item):
    customer_hash: str = Field(pattern=HASH)
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    amount_fen: int = Field(ge=0, le=10**11, description="Amount in fen (0.01 yuan).")
    due: date | None = None
    paid: bool = False


class Usage(_Item):
    customer_hash: str = Field(pattern=HASH)
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    kwh: float = Field(ge=0, le=1e9)
    days: list[float] | None = Field(
        None, description="kWh per day of the month, first to last (the kiosk's daily calendar)."
    )

    @model_validator(mode="after")
    def _month_of_days(self) -> Usage:
        if self.days is not None:
            import calendar

            year, month = int(self.period[:4]), int(self.period[5:])
            length = calendar.monthrange(year, month)[1]
            if len(self.days) != length:
                raise ValueError(f"usage {self.period} has {len(self.days)} days, the month has {length}")
            if any(not 0 <= d <= 1e7 for d in self.days):
                raise ValueError(f"usage {self.period} has a daily figure out of range")
        return self


class Supply(_Item):
    """Where a customer's electricity is supplied: their outage notices follow from it."""

    customer_hash: str = Field(pattern=HASH)
    address: str = Field(min_length=2, max_length=200)


class RosterEntry(_Item):
    """One person's shift on one day, as HQ rosters it (shown to managers beside the hall's suggestion)."""

    staff: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")
    day: date
    shift: str = Field("", max_length=16)
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
    counter: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,16}$")

    @model_validator(mode="after")
    def _order(self) -> RosterEntry:
        if self.end <= self.start:
            raise ValueError(f"roster entry of {self.staff} on {self.day} ends before it starts")
        return self


class Bundle(_Item):
    """What HQ sends down. Applied whole or not at all; versions only go up."""

    version: int = Field(ge=1, le=2**62)
    published_at: datetime
    businesses: list[BundleBusiness] = Field(default_factory=list, max_length=26)
    counters: list[BundleCounter] = Field(default_factory=list, max_length=200)
    staff: list[BundleStaff] = Field(default_factory=list, max_length=2000)
    customer_tags: list[BundleTags] = Field(default_factory=list, max_length=200_000)
    outages: list[Outage] = Field(default_factory=list, max_length=5000)
    bills: list[Bill] = Field(default_factory=list, max_length=500_000)
    usage: list[Usage] = Field(default_factory=list, max_length=500_000)
    supplies: list[Supply] = Field(default_factory=list, max_length=500_000)
    forms: list[FormTemplate] = Field(
        default_factory=list, max_length=200, description="Form templates for the counter pads (replace the defaults)."
    )
    roster: list[RosterEntry] = Field(default_factory=list, max_length=50_000)

    @model_validator(mode="after")
    def _references(self) -> Bundle:
        _unique("business code", [b.code for b in self.businesses])
        _unique("counter id", [c.id for c in self.counters])
        _unique("staff id", [s.id for s in self.staff])
        _unique("customer hash in customer_tags", [t.hash for t in self.customer_tags])
        _unique("outage id", [o.id for o in self.outages])
        _unique("bill", [f"{b.customer_hash[:8]}… {b.period}" for b in self.bills])
        _unique("usage", [f"{u.customer_hash[:8]}… {u.period}" for u in self.usage])
        _unique("supply of customer", [f"{x.customer_hash[:8]}…" for x in self.supplies])
        _unique("form id", [f.id for f in self.forms])
        codes = {b.code for b in self.businesses}
        for f in self.forms:
            if codes and f.business not in codes:
                raise ValueError(f"form {f.id} names business {f.business!r} that the bundle does not define")
        for c in self.counters:
            for code in [*c.primary, *c.secondary]:
                if code not in codes:
                    raise ValueError(f"counter {c.id} names business {code!r} that the bundle does not define")
        counters = {c.id for c in self.counters}
        for s in self.staff:
            for cid in s.counters:
                if cid not in counters:
                    raise ValueError(f"staff {s.id} names counter {cid!r} that the bundle does not define")
        staff = {s.id for s in self.staff}
        _unique("roster entry", [f"{r.staff} {r.day} {r.start}" for r in self.roster])
        for r in self.roster:
            if r.staff not in staff:
                raise ValueError(f"roster names staff {r.staff!r} that the bundle does not define")
            if r.counter is not None and r.counter not in counters:
                raise ValueError(f"roster names counter {r.counter!r} that the bundle does not define")
        return self


def _unique(what: str, keys: list[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what} {key} appears twice")
        seen.add(key)


REQUESTS: dict[str, type[BaseModel]] = {
    "sync.batch": SyncBatch,
    "sync.acked": SyncAcked,
    "sync.shed": SyncShed,
    "sync.link": SyncLink,
    "sync.status": Empty,
    "bundle.apply": BundleApply,
    "bundle.status": Empty,
    "bundle.lookup": BundleLookup,
}
READS = frozenset({"sync.batch", "sync.status", "bundle.status", "bundle.lookup"})
EVENTS = frozenset({"sync.gap", "sync.status", "bundle.applied", "bundle.refused"})
