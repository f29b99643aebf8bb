"""Counters needed per slot for a service level, by Erlang C, respecting counter skills.

Erlang C (M/M/n) gives the share of customers called within ``within`` minutes
when ``n`` counters serve a stream of ``arrivals`` per slot with an average
handling time ``aht``; pyworkforce computes it. The counters needed are the
fewest that reach the target::

    >>> counters_needed(100, aht_minutes=3, slot_minutes=30, service_level=0.8, within_minutes=20 / 60)
    14
    >>> round(service_level(100, aht_minutes=3, slot_minutes=30, counters=13, within_minutes=20 / 60), 4)
    0.7956

(pyworkforce's own ``required_positions`` starts its search at ``round(A + 1)``
and so can ask for one counter too many when the load's fraction is ½ or more;
the search here starts at the first stable count, ``floor(A) + 1``.)

Skills. A counter serves its primary and secondary businesses, so customers of
businesses that share counters pool. The plan opens the fewest counters such
that, for every group of businesses with customers in the slot, the open
counters able to serve at least one of them are no fewer than Erlang C asks
for the group's pooled customers (load-weighted handling time). For one
business this is its own requirement; for all of them, the hall's. The choice
is solved with OR-tools CP-SAT, preferring counters whose primary skills carry
the load; when even every counter is too few the slot says by how many.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_GROUPED = 8  # with more businesses in a slot, only single businesses and the whole hall are grouped


def _erlang(arrivals: float, aht_minutes: float, slot_minutes: float, within_minutes: float) -> object:
    from pyworkforce.queuing import ErlangC

    return ErlangC(transactions=arrivals, aht=aht_minutes, asa=within_minutes, interval=slot_minutes)


def offered_load(arrivals: float, aht_minutes: float, slot_minutes: float) -> float:
    """Erlangs: the average number of counters busy."""
    return arrivals / slot_minutes * aht_minutes


def service_level(
    arrivals: float, *, aht_minutes: float, slot_minutes: float, counters: int, within_minutes: float
) -> float:
    """Share of customers called within ``within_minutes`` (0 when the counters cannot keep up)."""
    if arrivals <= 0:
        return 1.0
    if counters <= offered_load(arrivals, aht_minutes, slot_minutes):
        return 0.0
    e = _erlang(arrivals, aht_minutes, slot_minutes, within_minutes)
    return float(e.service_level(counters))  # type: ignore[attr-defined]


def waiting_probability(arrivals: float, *, aht_minutes: float, slot_minutes: float, counters: int) -> float:
    """Erlang C: the probability that a customer waits at all."""
    if arrivals <= 0:
        return 0.0
    if counters <= offered_load(arrivals, aht_minutes, slot_minutes):
        return 1.0
    e = _erlang(arrivals, aht_minutes, slot_minutes, 1.0)
    return float(e.waiting_probability(counters))  # type: ignore[attr-defined]


def counters_needed(
    arrivals: float, *, aht_minutes: float, slot_minutes: float, service_level: float, within_minutes: float
) -> int:
    """The fewest counters that call ``service_level`` of customers within ``within_minutes``."""
    if arrivals <= 0:
        return 0
    e = _erlang(arrivals, aht_minutes, slot_minutes, within_minutes)
    n = math.floor(offered_load(arrivals, aht_minutes, slot_minutes)) + 1
    while e.service_level(n) < service_level:  # type: ignore[attr-defined]
        n += 1
    return n


def capacity(counters: int, *, aht_minutes: float, slot_minutes: float, target: float, within_minutes: float) -> float:
    """The most arrivals per slot that ``counters`` counters serve at the target (to 0.01 of a customer)."""
    if counters <= 0:
        return 0.0
    lo, hi = 0.0, counters * slot_minutes / aht_minutes  # at hi the counters are always busy
    while hi - lo > 0.01:
        mid = (lo + hi) / 2
        ok = service_level(
            mid, aht_minutes=aht_minutes, slot_minutes=slot_minutes, counters=counters, within_minutes=within_minutes
        )
        lo, hi = (mid, hi) if ok >= target else (lo, mid)
    return math.floor(lo * 100) / 100  # never above the boundary


@dataclass(frozen=True)
class CounterSkills:
    id: str
    primary: tuple[str, ...]
    secondary: tuple[str, ...] = ()

    @property
    def serves(self) -> frozenset[str]:
        return frozenset((*self.primary, *self.secondary))


@dataclass(frozen=True)
class Demand:
    arrivals: float
    aht_minutes: float


@dataclass
class SlotPlan:
    counters: int  # counters to open
    open: list[str]  # which
    per_business: dict[str, int]  # Erlang C counters for each business alone
    short: int = 0  # counters missing even with every counter open
    groups: dict[str, int] = field(default_factory=dict)  # requirement of each group pooled ("A+B": 3)


def pooled(demands: Mapping[str, Demand], group: Sequence[str]) -> Demand:
    """The demand of ``group`` as one stream: arrivals summed, handling time weighted by arrivals."""
    total = sum(demands[b].arrivals for b in group)
    if total <= 0:
        return Demand(0.0, 1.0)
    aht = sum(demands[b].arrivals * demands[b].aht_minutes for b in group) / total
    return Demand(total, aht)


def plan_slot(
    demands: Mapping[str, Demand],
    counters: Sequence[CounterSkills],
    *,
    slot_minutes: float,
    service_level: float,
    within_minutes: float,
) -> SlotPlan:
    """Which counters to open for one slot's demand (see the module's description)."""
    active = sorted(b for b, d in demands.items() if d.arrivals > 0)

    def need(group: Sequence[str]) -> int:
        d = pooled(demands, group)
        return counters_needed(
            d.arrivals,
            aht_minutes=d.aht_minutes,
            slot_minutes=slot_minutes,
            service_level=service_level,
            within_minutes=within_minutes,
        )

    if not active:
        return SlotPlan(0, [], {})
    if len(active) <= MAX_GROUPED:
        groups = [g for r in range(1, len(active) + 1) for g in itertools.combinations(active, r)]
    else:
        groups = [(b,) for b in active] + [tuple(active)]
    required = {g: need(g) for g in groups}
    able = {g: [c for c in counters if c.serves & set(g)] for g in groups}
    short = max((required[g] - len(able[g]) for g in groups), default=0)
    chosen = _cover(counters, groups, required, able, active)
    return SlotPlan(
        counters=len(chosen),
        open=chosen,
        per_business={b: required[(b,)] for b in active},
        short=max(0, short),
        groups={"+".join(g): n for g, n in required.items() if len(g) > 1},
    )


def _cover(
    counters: Sequence[CounterSkills],
    groups: list[tuple[str, ...]],
    required: dict[tuple[str, ...], int],
    able: dict[tuple[str, ...], list[CounterSkills]],
    active: list[str],
) -> list[str]:
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    use = {c.id: model.new_bool_var(f"open_{c.id}") for c in counters}
    for g in groups:
        want = min(required[g], len(able[g]))  # when too few counters exist, open every one that can help
        if want > 0:
            model.add(sum(use[c.id] for c in able[g]) >= want)
    # fewest counters first; among equals, counters whose primary skills carry the slot's customers
    fit = {c.id: sum(1 for b in c.primary if b in active) for c in counters}
    model.minimize(sum((100 - fit[c.id]) * use[c.id] for c in counters))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 5.0
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return [c.id for c in counters if c.serves & set(active)]
    return [c.id for c in counters if solver.value(use[c.id])]
