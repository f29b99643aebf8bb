"""Choosing the next ticket for a counter: pure, no I/O, every choice explained.

The rules, in order:

1. ``transfer``: a ticket transferred to this very counter goes first.
2. Skills: the counter's primary businesses; only when none of them has
   anyone waiting, its secondary businesses (the rule name then ends in
   ``_secondary``).
3. ``max_wait``: a normal ticket that has waited ``max_wait_minutes`` goes
   before every priority ticket.
4. ``fair_ratio``: when priority (VIP, green channel, appointment) and normal
   tickets both wait, the counter alternates runs: ``ratio_priority`` priority
   calls, then ``ratio_normal`` normal calls (2 normal : 1 priority by default).
5. ``priority`` / ``fifo``: only one kind waits; priority tickets are ordered by
   booked time (appointments) or issue time, normal ones by issue time.

>>> from edge.config import QueuePolicy
>>> w = [Waiting("t1", "A001", "A", "normal", 0.0), Waiting("t2", "A002", "A", "vip", 60.0)]
>>> c = CounterView("1", ("A",), ())
>>> choice = choose(w, c, QueuePolicy(), now=120.0)
>>> choice.ticket.number, choice.rule, [p["number"] for p in choice.passed]
('A002', 'fair_ratio', ['A001'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.config import QueuePolicy

PRIORITY_KINDS = ("vip", "green", "appointment")


@dataclass(frozen=True)
class Waiting:
    id: str
    number: str
    business: str
    priority: str
    queued_at: float
    booked_at: float | None = None
    target_counter: str | None = None

    @property
    def is_priority(self) -> bool:
        return self.priority in PRIORITY_KINDS

    @property
    def order_key(self) -> tuple[float, float]:
        first = self.booked_at if self.priority == "appointment" and self.booked_at is not None else self.queued_at
        return (first, self.queued_at)


@dataclass(frozen=True)
class CounterView:
    id: str
    primary: tuple[str, ...]
    secondary: tuple[str, ...]
    streak_kind: str | None = None  # "priority" or "normal": what the last calls were
    streak_len: int = 0


@dataclass(frozen=True)
class Choice:
    ticket: Waiting
    rule: str
    detail: str
    passed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "priority" if self.ticket.is_priority else "normal"


def next_streak(counter: CounterView, kind: str) -> tuple[str, int]:
    """The counter's streak after a call of ``kind``."""
    if counter.streak_kind == kind:
        return kind, counter.streak_len + 1
    return kind, 1


def choose(waiting: Sequence[Waiting], counter: CounterView, policy: QueuePolicy, now: float) -> Choice | None:
    """Pick the ticket ``counter`` should call now, or None if nobody it serves waits."""
    targeted = sorted((w for w in waiting if w.target_counter == counter.id), key=lambda w: w.queued_at)
    if targeted:
        pick = targeted[0]
        return Choice(pick, "transfer", f"transferred to counter {counter.id}", _passed(waiting, pick, now, ()))
    free = [w for w in waiting if w.target_counter is None]
    for tier, businesses in (("", counter.primary), ("_secondary", counter.secondary)):
        pool = [w for w in free if w.business in businesses]
        if pool:
            choice = _choose_in(pool, counter, policy, now)
            return Choice(
                choice.ticket,
                choice.rule + tier,
                choice.detail + (" (secondary skill: no primary business waiting)" if tier else ""),
                _passed(pool, choice.ticket, now, businesses),
            )
    return None


def _choose_in(pool: list[Waiting], counter: CounterView, policy: QueuePolicy, now: float) -> Choice:
    normal = sorted((w for w in pool if not w.is_priority), key=lambda w: w.queued_at)
    prio = sorted((w for w in pool if w.is_priority), key=lambda w: w.order_key)
    if normal and not prio:
        return Choice(normal[0], "fifo", "first come, first served")
    if prio and not normal:
        return Choice(prio[0], "priority", f"{prio[0].priority} ticket, earliest first")
    oldest = normal[0]
    limit = policy.max_wait_minutes * 60
    if now - oldest.queued_at >= limit:
        return Choice(
            oldest,
            "max_wait",
            f"normal ticket waited {(now - oldest.queued_at) / 60:.0f} min, over the {policy.max_wait_minutes} min limit",
        )
    kind, run = counter.streak_kind, counter.streak_len
    if kind == "priority" and run >= policy.ratio_priority:
        pick, why = (
            oldest,
            f"{run} priority call(s) in a row; ratio {policy.ratio_normal}:{policy.ratio_priority} gives a normal turn",
        )
    elif kind == "normal" and run < policy.ratio_normal:
        pick, why = oldest, f"{run} normal call(s) of {policy.ratio_normal} in this run"
    else:
        pick = prio[0]
        why = f"priority turn (ratio {policy.ratio_normal} normal : {policy.ratio_priority} priority)"
    return Choice(pick, "fair_ratio", why)


def _passed(pool: Sequence[Waiting], pick: Waiting, now: float, businesses: Sequence[str]) -> list[dict[str, Any]]:
    """Tickets that had waited longer than the one called, and were passed over."""
    out = []
    for w in sorted(pool, key=lambda w: w.queued_at):
        if w.id == pick.id or w.queued_at >= pick.queued_at:
            continue
        if businesses and w.business not in businesses:
            continue
        out.append(
            {"number": w.number, "business": w.business, "priority": w.priority, "waited_s": round(now - w.queued_at)}
        )
    return out
