"""The invariants a run must end with, as plain functions of what the stores hold.

Each check takes data (read from ``hall.db``, HQ's store and the harness's own records by
:mod:`chaos.stores`) and returns an :class:`Invariant`: whether it held, and one line per violation,
naming the ticket, seq or device. They trust nothing of the hall's own bookkeeping beyond the rows.

    >>> check_tickets([Acked("t1", "A001")], [Ticket("t1", "2026-03-02", "A", 1, "A001")]).held
    True
    >>> print(check_tickets([], [Ticket("t1", "2026-03-02", "A", 2, "A002")]).problems[0])
    2026-03-02 A: numbers 1 missing (held: 2)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from edge.schemas.sync import LANES, Lane, lane_of

MAX_PROBLEMS = 20  # lines kept per invariant; the count says how many there were
OK_STATES = ("ok", "online")
FAULT_STATES = ("degraded", "fault", "offline")


@dataclass
class Invariant:
    name: str
    held: bool
    problems: list[str] = field(default_factory=list)
    count: int = 0  # violations in all, when more than the lines kept

    @classmethod
    def of(cls, name: str, problems: list[str]) -> Invariant:
        return cls(name, not problems, problems[:MAX_PROBLEMS], len(problems))


# -- tickets ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acked:
    """A ticket the harness's clients were told about."""

    id: str
    number: str


@dataclass(frozen=True)
class Ticket:
    """A ticket row of the hall (transferred copies, which keep their number, are left out)."""

    id: str
    day: str
    series: str
    seq: int
    number: str


def check_tickets(acked: list[Acked], held: list[Ticket]) -> Invariant:
    """Every acknowledged ticket is held with its number; numbers unique and gap-free per business per day."""
    problems: list[str] = []
    by_id = {t.id: t for t in held}
    for a in acked:
        t = by_id.get(a.id)
        if t is None:
            problems.append(f"acknowledged ticket {a.number} ({a.id}) is not in the hall's database")
        elif t.number != a.number:
            problems.append(f"acknowledged ticket {a.id} was {a.number}, the hall holds it as {t.number}")
    series: dict[tuple[str, str], list[Ticket]] = defaultdict(list)
    for t in held:
        series[(t.day, t.series)].append(t)
    for (day, code), tickets in sorted(series.items()):
        seqs = sorted(t.seq for t in tickets)
        repeated = sorted({s for s in seqs if seqs.count(s) > 1})
        if repeated:
            problems.append(f"{day} {code}: numbers given twice: {', '.join(map(str, repeated[:10]))}")
        missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
        if missing:
            problems.append(f"{day} {code}: numbers {_ranges(missing)} missing (held: {_ranges(sorted(set(seqs)))})")
        numbers = [t.number for t in tickets]
        if len(set(numbers)) != len(numbers):
            problems.append(f"{day} {code}: a number is held by two tickets")
    return Invariant.of("acknowledged tickets held; numbers unique and gap-free", problems)


# -- events at HQ --------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """An event of the log: in ``hall.db`` or as HQ received it (in the order it arrived)."""

    seq: int
    id: str
    topic: str
    lane: Lane | None = None  # HQ's record of the lane; the hall's is the topic's

    @property
    def lane_of_topic(self) -> Lane:
        return lane_of(self.topic)


@dataclass(frozen=True)
class Gap:
    """Analytics events shed on a full disk, as a ``sync.gap`` event recorded them."""

    first: int
    last: int
    lane: str = "analytics"


def check_events(
    hall: list[Event], hq: list[Event], *, head: int, reclaimed: dict[str, int], gaps: list[Gap]
) -> Invariant:
    """Every event of the hall up to ``head`` is at HQ exactly once, in order within its lane.

    ``hall`` is the hall's log now; ``hq`` is HQ's events in the order they arrived; ``reclaimed`` the
    seq per lane up to which the hall deleted events HQ had acknowledged; ``gaps`` the ranges the hall
    shed (analytics only). A seq the hall's log lacks must be reclaimed (then HQ holds it) or shed.
    """
    problems: list[str] = []
    mine = {e.seq: e for e in hall if e.seq <= head}
    seen: dict[int, Event] = {}
    last: dict[str, int] = {}
    for e in hq:
        if e.seq in seen:
            problems.append(f"seq {e.seq} ({e.topic}) is at HQ twice")
            continue
        seen[e.seq] = e
        if e.lane is not None and e.lane != e.lane_of_topic:
            problems.append(f"seq {e.seq} ({e.topic}) arrived in lane {e.lane}, its topic's lane is {e.lane_of_topic}")
        lane = e.lane or e.lane_of_topic
        if e.seq < last.get(lane, 0):
            problems.append(f"seq {e.seq} arrived at HQ after seq {last[lane]} of lane {lane}")
        last[lane] = max(last.get(lane, 0), e.seq)
    for seq in range(1, head + 1):
        ours, theirs = mine.get(seq), seen.get(seq)
        if ours is not None:
            if theirs is None:
                problems.append(f"seq {seq} ({ours.topic}, lane {ours.lane_of_topic}) never reached HQ")
            elif theirs.id != ours.id or theirs.topic != ours.topic:
                problems.append(f"seq {seq} is {ours.topic} {ours.id} in the hall, {theirs.topic} {theirs.id} at HQ")
            continue
        shed = any(g.first <= seq <= g.last for g in gaps)
        if theirs is not None:
            if not shed and seq > reclaimed.get(theirs.lane or theirs.lane_of_topic, 0):
                problems.append(f"seq {seq} ({theirs.topic}) is at HQ but gone from the hall without being reclaimed")
        elif not shed:
            problems.append(f"seq {seq} is neither in the hall's log, nor at HQ, nor in a recorded sync.gap")
    for g in gaps:
        if g.lane != "analytics":
            problems.append(f"a sync.gap shed seqs {g.first}..{g.last} of lane {g.lane}: only analytics may be shed")
    return Invariant.of("every event at HQ exactly once, in order per lane", problems)


# -- devices ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """A durable ``device.health`` event: a change of a device's state."""

    seq: int
    ts: datetime
    device: str
    state: str


@dataclass(frozen=True)
class Episode:
    """A device fault the harness caused, from ``start`` until it put the device back at ``end``."""

    device: str
    what: str
    start: datetime
    end: datetime
    expect_fault: bool = True  # pins driven wildly need not be a fault, but must leave none behind


def check_devices(episodes: list[Episode], health: list[Health], *, slack_s: float = 1.0) -> Invariant:
    """Each fault the harness caused was reported after it began, and cleared after the device returned."""
    problems: list[str] = []
    by_device: dict[str, list[Health]] = defaultdict(list)
    for h in sorted(health, key=lambda h: h.seq):
        by_device[h.device].append(h)
    for ep in episodes:
        events = by_device.get(ep.device, [])
        when = f"{ep.device} {ep.what} at {ep.start:%H:%M:%S}"
        fault = next(
            (h for h in events if h.state in FAULT_STATES and (h.ts - ep.start).total_seconds() >= -slack_s), None
        )
        if ep.expect_fault and fault is None:
            problems.append(f"{when}: no fault or offline reported")
            continue
        after = fault.seq if fault is not None else 0
        cleared = next(
            (
                h
                for h in events
                if h.seq > after and h.state in OK_STATES and (h.ts - ep.end).total_seconds() >= -slack_s
            ),
            None,
        )
        later = [h for h in events if h.seq > after and (h.ts - ep.end).total_seconds() >= -slack_s]
        if cleared is None and (fault is not None or (later and later[-1].state not in OK_STATES)):
            problems.append(f"{when}: never reported ok again after it returned at {ep.end:%H:%M:%S}")
        elif cleared is not None and later and later[-1].state not in OK_STATES:
            problems.append(f"{when}: cleared, then {later[-1].state} again and never cleared")
    return Invariant.of("every device fault reported and cleared", problems)


def left_in_fault(health: list[Health]) -> dict[str, str]:
    """Devices whose last reported state is not ok, whatever caused it (a full disk silences voice too)."""
    last: dict[str, Health] = {}
    for h in sorted(health, key=lambda h: h.seq):
        last[h.device] = h
    return {d: h.state for d, h in sorted(last.items()) if h.state not in OK_STATES}


def check_all_clear(health: list[Health]) -> Invariant:
    """Every device that reported a fault during the run, for any cause, reported ok again by the end."""
    problems = [f"{d} is left {state}" for d, state in left_in_fault(health).items()]
    return Invariant.of("no device left in fault at the end", problems)


def _ranges(values: list[int]) -> str:
    """Sorted numbers as runs: ``[1, 2, 3, 7]`` → ``1..3, 7``."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    out = [str(a) if a == b else f"{a}..{b}" for a, b in runs]
    return ", ".join(out[:10]) + (" …" if len(out) > 10 else "")


__all__ = ["LANES", "Acked", "Episode", "Event", "Gap", "Health", "Invariant", "Ticket"]
