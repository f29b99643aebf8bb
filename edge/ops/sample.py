"""A made-up but realistic history for the demo hall: working days 08:30-17:30 with a morning and an
afternoon peak, busier Mondays, Saturday mornings, no one on Sundays and holidays, a few no-shows, ratings.

``hall demo`` imports five weeks of it (through the ``ops`` service) when the hall has no history yet, so
the forecast, the staffing plan and the roster have something to work from::

    >>> from datetime import date
    >>> rows = visits(date(2026, 7, 10), 5)
    >>> sorted({r["business"] for r in rows}), all(r["issued_at"] < r["called_at"] for r in rows)
    (['A', 'B', 'C', 'D'], True)
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta, timezone
from typing import Any

from edge.ops.days import Calendar

CST = timezone(timedelta(hours=8))
PEAK = {"A": 5.0, "B": 1.2, "C": 0.8, "D": 2.0}  # arrivals in a peak half hour
AHT = {"A": 4.0, "B": 14.0, "C": 9.0, "D": 5.0}
COUNTERS = {"A": ["1", "2"], "B": ["3"], "C": ["2", "3"], "D": ["4"]}
STAFF = {"1": "王芳", "2": "张伟", "3": "李雷", "4": "韩梅"}


def visits(last: date, days: int, seed: int = 3) -> list[dict[str, Any]]:
    """Visits of the ``days`` days up to ``last``: working days 08:30-17:30 with two peaks, Saturday mornings."""
    rng = random.Random(seed)
    cal = Calendar()
    out: list[dict[str, Any]] = []
    for back in range(days, 0, -1):
        d = last - timedelta(days=back - 1)
        kind = cal.kind(d)
        if kind.group in ("sun", "holiday"):
            continue
        slots = range(17, 35) if kind.group == "work" else range(18, 24)
        level = 1.3 if kind.weekday == 0 and kind.group == "work" else (0.5 if kind.group == "sat" else 1.0)
        for slot in slots:
            t = (slot - 17) / 18
            shape = 0.3 + math.exp(-(((t - 0.2) / 0.12) ** 2)) + 0.8 * math.exp(-(((t - 0.7) / 0.13) ** 2))
            for b, peak in PEAK.items():
                n = _poisson(rng, peak * shape * level)
                for k in range(n):
                    issued = datetime(d.year, d.month, d.day, tzinfo=CST) + timedelta(
                        minutes=30 * slot + 30 * k / max(n, 1)
                    )
                    called = issued + timedelta(minutes=rng.uniform(1, 12))
                    counter = rng.choice(COUNTERS[b])
                    noshow = rng.random() < 0.04
                    finished = None if noshow else called + timedelta(minutes=rng.expovariate(1 / AHT[b]) + 0.5)
                    rating = None if noshow or rng.random() < 0.5 else rng.choice([5, 5, 5, 4, 4, 3, 2, 1])
                    out.append(
                        {
                            "line": len(out) + 2,
                            "business": b,
                            "issued_at": issued.timestamp(),
                            "called_at": called.timestamp(),
                            "finished_at": finished.timestamp() if finished else None,
                            "counter": counter,
                            "staff": STAFF[counter],
                            "rating": rating,
                        }
                    )
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
