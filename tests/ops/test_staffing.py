"""Erlang C against the formula and published tables; counter choice on hand-worked skill cases."""

from __future__ import annotations

import math

import pytest

from edge.ops.staffing import (
    CounterSkills,
    Demand,
    counters_needed,
    plan_slot,
    service_level,
    waiting_probability,
)


def erlang_c_formula(n: int, a: float) -> float:
    """Erlang C written out: (A^n/n! · n/(n−A)) / (Σ_{k<n} A^k/k! + A^n/n! · n/(n−A))."""
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize("a", [0.4, 2.5, 3.87, 10.0, 17.3])
def test_probability_of_waiting_is_the_erlang_c_formula(a: float) -> None:
    for n in range(math.floor(a) + 1, math.floor(a) + 8):
        # 30-minute slots with a 3-minute handling time: A = arrivals / 10
        assert waiting_probability(a * 10, aht_minutes=3, slot_minutes=30, counters=n) == pytest.approx(
            erlang_c_formula(n, a), rel=1e-9
        )


def test_published_erlang_c_table() -> None:
    """Dunlop, Girma, Irvine, *Digital Mobile Communications and the TETRA System* (Wiley, 1999),
    appendix A.4, Erlang C table: with 8 channels, 3.87 E of traffic waits with probability 5%;
    with 10 channels, 4.08 E waits with probability 1%. The table gives traffic to two decimals,
    so the traffic at which the probability crosses the figure lies within 0.005 E of it."""
    for channels, p, table_a in ((8, 0.05, 3.87), (10, 0.01, 4.08)):
        lo, hi = 0.5, channels - 0.01
        for _ in range(60):  # the traffic at which waiting_probability == p, by bisection
            mid = (lo + hi) / 2
            if waiting_probability(mid * 10, aht_minutes=3, slot_minutes=30, counters=channels) < p:
                lo = mid
            else:
                hi = mid
        assert abs(lo - table_a) <= 0.005, (channels, p, lo)


@pytest.mark.parametrize(("aht_s", "asa_s"), [(240, 2.243505841), (300, 30.4312286)])
def test_published_average_wait(aht_s: int, asa_s: float) -> None:
    """Abstract Micro Systems' Erlang Library for Excel, ErlcWait4 help page: 20 agents, a half hour,
    100 calls, handling 240 s → average wait 2.243505841 s; 300 s → 30.4312286 s. The average wait
    of Erlang C is P(wait) · AHT / (n − A)."""
    a = 100 / 1800 * aht_s
    pw = waiting_probability(100, aht_minutes=aht_s / 60, slot_minutes=30, counters=20)
    assert pw * aht_s / (20 - a) == pytest.approx(asa_s, rel=1e-7)


def test_counters_needed_is_the_fewest_that_reach_the_target() -> None:
    # A = 2.5 E: three counters call 86.7% within 10 minutes (hand: 1 − C(3, 2.5)·e^{−(3−2.5)·10/3})
    c3 = erlang_c_formula(3, 2.5)
    assert 1 - c3 * math.exp(-0.5 * 10 / 3) == pytest.approx(0.8674, abs=1e-4)
    assert counters_needed(25, aht_minutes=3, slot_minutes=30, service_level=0.8, within_minutes=10) == 3
    assert counters_needed(25, aht_minutes=3, slot_minutes=30, service_level=0.9, within_minutes=10) == 4
    assert service_level(25, aht_minutes=3, slot_minutes=30, counters=2, within_minutes=10) == 0.0  # 2 < A + 1
    assert counters_needed(0, aht_minutes=3, slot_minutes=30, service_level=0.8, within_minutes=10) == 0


def test_skills_decide_which_counters_open() -> None:
    # one customer an hour per business: each alone needs one counter, and so do both pooled
    demands = {"A": Demand(0.5, 3.0), "B": Demand(0.5, 3.0)}
    kw = {"slot_minutes": 30.0, "service_level": 0.8, "within_minutes": 10.0}
    separate = [CounterSkills("1", ("A",)), CounterSkills("2", ("B",))]
    plan = plan_slot(demands, separate, **kw)
    assert (plan.counters, plan.open, plan.per_business, plan.short) == (2, ["1", "2"], {"A": 1, "B": 1}, 0)
    both = [CounterSkills("1", ("A",)), CounterSkills("2", ("B",)), CounterSkills("3", ("A",), ("B",))]
    plan = plan_slot(demands, both, **kw)
    assert (plan.counters, plan.open) == (1, ["3"])


def test_a_busy_business_keeps_its_counters_and_shortage_is_reported() -> None:
    # B: 25 customers in half an hour at 3 minutes needs 3 counters; only two counters serve B
    demands = {"A": Demand(0.0, 3.0), "B": Demand(25.0, 3.0)}
    counters = [CounterSkills("1", ("A",)), CounterSkills("2", ("B",)), CounterSkills("3", ("A",), ("B",))]
    plan = plan_slot(demands, counters, slot_minutes=30, service_level=0.8, within_minutes=10)
    assert (plan.counters, plan.open, plan.per_business, plan.short) == (2, ["2", "3"], {"B": 3}, 1)


def test_capacity_is_where_one_more_counter_becomes_needed() -> None:
    from edge.ops.staffing import capacity

    for k in (1, 2, 3, 5):
        cap = capacity(k, aht_minutes=3, slot_minutes=30, target=0.8, within_minutes=10)
        kw = {"aht_minutes": 3.0, "slot_minutes": 30.0, "service_level": 0.8, "within_minutes": 10.0}
        assert counters_needed(cap, **kw) == k
        assert counters_needed(cap + 0.02, **kw) == k + 1
