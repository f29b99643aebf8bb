"""The arrival forecast, back-tested on a multi-week history, against two baselines, and its speed.

A hall's history is simulated for 2025 up to the summer (Poisson arrivals: a
morning and an afternoon peak, busier Mondays, short Saturdays, closed Sundays,
quiet public holidays, working days swapped for them (调休), a slow upward
trend). Each of the last ``--weeks`` weeks is then forecast from the history
before it only, and compared with what "happened", slot by slot, against:

- seasonal naive: the same slot of the same weekday a week before;
- four-week average: the same slot of the same weekday over the four weeks before.

Error is WAPE (sum of absolute errors / sum of arrivals) and MAE per slot over
the hall's open slots. Time: median seconds to forecast one week for four
businesses (after a first, warm-up call that imports statsmodels).

    .venv/bin/python benchmarks/bench_forecast.py [--weeks 8] [--seed 7]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import date, timedelta

import numpy as np

from edge.ops.days import Calendar
from edge.ops.forecast import forecast

BUSINESSES = {"A": 6.0, "B": 1.5, "C": 1.0, "D": 2.5}  # peak arrivals per half hour on an ordinary Tuesday
SLOTS = range(17, 35)  # 08:30-17:30
SAT_SLOTS = range(18, 24)  # 09:00-12:00
FIRST, LAST = date(2025, 1, 6), date(2025, 7, 27)


def expected(b: str, day: date, slot: int, cal: Calendar) -> float:
    kind = cal.kind(day)
    if kind.group == "sun":
        return 0.0
    if kind.group in ("sat", "holiday"):
        if slot not in SAT_SLOTS:
            return 0.0
        level = 0.45 if kind.group == "sat" else 0.25
    else:
        level = {0: 1.35, 1: 1.0, 2: 0.95, 3: 0.95, 4: 1.1}.get(kind.weekday, 1.0)  # a swapped day: 1.0
    t = (slot - 17) / 18
    shape = 0.35 + math.exp(-(((t - 0.2) / 0.12) ** 2)) + 0.8 * math.exp(-(((t - 0.68) / 0.14) ** 2))
    trend = 1 + 0.15 * (day - FIRST).days / 365
    return BUSINESSES[b] * level * shape * trend


def simulate(seed: int) -> tuple[dict[str, dict[date, dict[int, int]]], Calendar]:
    rng = np.random.default_rng(seed)
    cal = Calendar()
    counts: dict[str, dict[date, dict[int, int]]] = {b: {} for b in BUSINESSES}
    day = FIRST
    while day <= LAST:
        for b in BUSINESSES:
            counts[b][day] = {s: int(rng.poisson(expected(b, day, s, cal))) for s in SLOTS}
        day += timedelta(days=1)
    return counts, cal


def errors(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    actual = sum(a for a, _ in pairs)
    wape = sum(abs(a - f) for a, f in pairs) / actual if actual else float("nan")
    return wape, sum(abs(a - f) for a, f in pairs) / len(pairs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weeks", type=int, default=8, help="weeks back-tested (the last ones of the history)")
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    counts, cal = simulate(a.seed)
    starts = [LAST - timedelta(days=6) - timedelta(weeks=w) for w in range(a.weeks)][::-1]
    forecast(counts, businesses=list(BUSINESSES), start=starts[0], days=7, calendar=cal)  # warm-up (imports)
    ours: list[tuple[float, float]] = []
    naive: list[tuple[float, float]] = []
    four: list[tuple[float, float]] = []
    took: list[float] = []
    for start in starts:
        t0 = time.perf_counter()
        result = forecast(counts, businesses=list(BUSINESSES), start=start, days=7, calendar=Calendar())
        took.append(time.perf_counter() - t0)
        predicted = {(s.business, s.day, s.index): s.arrivals for s in result.slots}
        for b in BUSINESSES:
            for i in range(7):
                day = start + timedelta(days=i)
                for slot in SLOTS:
                    actual = counts[b][day][slot]
                    ours.append((actual, predicted.get((b, day, slot), 0.0)))
                    naive.append((actual, counts[b][day - timedelta(weeks=1)][slot]))
                    four.append(
                        (actual, statistics.mean(counts[b][day - timedelta(weeks=k)][slot] for k in (1, 2, 3, 4)))
                    )
    print(f"history {FIRST} to {LAST}, {len(BUSINESSES)} businesses, 30-minute slots 08:30-17:30")
    print(f"back-test: {a.weeks} weeks from {starts[0]} (each forecast from the history before its Monday only)")
    print(f"{'method':<28}{'WAPE':>8}{'MAE/slot':>10}")
    for name, pairs in (
        ("GLM forecast (edge.ops)", ours),
        ("seasonal naive (last week)", naive),
        ("four-week average", four),
    ):
        wape, mae = errors(pairs)
        print(f"{name:<28}{wape:8.1%}{mae:10.3f}")
    print(f"time to forecast a week: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
