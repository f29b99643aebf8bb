"""Arrivals per business per slot for coming days, from the history strictly before the first one.

The model is a Poisson regression (statsmodels' GLM) per business, the standard
multiplicative model of service arrivals: the log of the expected arrivals in a
slot is an intraday profile of the day's group (working day, Saturday, Sunday,
holiday; see :mod:`edge.ops.days`) plus a weekday level on ordinary working
days, coded so that the levels average to zero. A swapped working day (调休)
therefore gets the average working day, and a holiday the hall's own holiday
pattern (a Sunday's when the history has no holiday yet). Older days weigh less
(``halflife_days``). A (group, slot) cell with no arrival in the history is
forecast as zero and kept out of the fit.

Counts come in as ``{business: {day: {slot: n}}}`` with ``slot`` the index of the
slot from the day's local midnight (``slot_minutes`` long), so slot 18 of 30
minutes starts at 09:00. Only days before ``start`` are used, from the first
day with any arrival (at most ``history_weeks`` back), so a past week can be
back-tested against what really happened.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edge.errors import Conflict
from edge.ops.days import Calendar, DayKind, Group

Counts = Mapping[str, Mapping[date, Mapping[int, float]]]
MIN_DAYS = 7
FALLBACK: dict[Group, tuple[Group, ...]] = {
    "work": ("work", "sat", "sun"),
    "sat": ("sat", "work", "sun"),
    "sun": ("sun", "holiday", "sat", "work"),
    "holiday": ("holiday", "sun", "sat", "work"),
}


class NotEnoughHistory(Conflict):
    """Fewer than a week of history before the first forecast day."""


@dataclass(frozen=True)
class Slot:
    business: str
    day: date
    index: int  # slot index from the day's local midnight
    arrivals: float

    def start(self, zone: ZoneInfo, slot_minutes: int) -> datetime:
        """The slot's start as a local time in ``zone``."""
        return datetime.combine(self.day, time(0), zone) + timedelta(minutes=self.index * slot_minutes)


@dataclass(frozen=True)
class Forecast:
    slots: list[Slot]
    span: tuple[int, int]  # first and last slot index of the hall's day
    history_days: int
    unknown_years: tuple[int, ...]  # years the holiday schedule does not cover (plain weekdays used)

    def total(self, business: str | None = None) -> float:
        return sum(s.arrivals for s in self.slots if business is None or s.business == business)


def forecast(
    counts: Counts,
    *,
    businesses: list[str],
    start: date,
    days: int,
    calendar: Calendar | None = None,
    history_weeks: int = 12,
    halflife_days: float = 28.0,
) -> Forecast:
    """Forecast arrivals for ``days`` days from ``start`` for each of ``businesses``."""
    cal = calendar or Calendar()
    seen = [d for per in counts.values() for d, slots in per.items() if d < start and any(slots.values())]
    if not seen:
        raise NotEnoughHistory(f"no history before {start}: import some (hall history import) or let the hall run")
    first = max(min(seen), start - timedelta(weeks=history_weeks))
    train = [first + timedelta(days=i) for i in range((start - first).days)]
    if len(train) < MIN_DAYS:
        raise NotEnoughHistory(f"only {len(train)} day(s) of history before {start}; a forecast needs {MIN_DAYS}")
    indices = [s for per in counts.values() for d in train for s, n in per.get(d, {}).items() if n]
    span = (min(indices), max(indices)) if indices else (0, 0)
    kinds = {d: cal.kind(d) for d in train}
    targets = [start + timedelta(days=i) for i in range(days)]
    target_kinds = {d: cal.kind(d) for d in targets}
    weights = {d: 0.5 ** ((start - d).days / halflife_days) for d in train}
    out: list[Slot] = []
    for b in businesses:
        model = _fit(counts.get(b, {}), train, kinds, weights, span)
        for d in targets:
            for s in range(span[0], span[1] + 1):
                out.append(Slot(b, d, s, round(model.predict(target_kinds[d], s), 3)))
    return Forecast(out, span, len(train), tuple(sorted(cal.unknown_years)))


@dataclass
class _Model:
    cells: dict[tuple[Group, int], float]  # log level of each (group, slot) with arrivals
    weekday: dict[int, float]  # log deviation of an ordinary working day by weekday
    groups: set[Group]

    def predict(self, kind: DayKind, slot: int) -> float:
        group = next((g for g in FALLBACK[kind.group] if g in self.groups), None)
        if group is None or (group, slot) not in self.cells:
            return 0.0
        eta = self.cells[(group, slot)]
        if group == "work" and kind.group == "work" and not kind.swapped:
            eta += self.weekday.get(kind.weekday, 0.0)
        return math.exp(eta)


def _fit(
    per_day: Mapping[date, Mapping[int, float]],
    train: list[date],
    kinds: dict[date, DayKind],
    weights: dict[date, float],
    span: tuple[int, int],
) -> _Model:
    import numpy as np

    groups = {kinds[d].group for d in train}
    slots = range(span[0], span[1] + 1)
    totals: dict[tuple[Group, int], float] = {}
    for d in train:
        for s in slots:
            key = (kinds[d].group, s)
            totals[key] = totals.get(key, 0.0) + float(per_day.get(d, {}).get(s, 0))
    cells = sorted(k for k, v in totals.items() if v > 0)
    if not cells:
        return _Model({}, {}, groups)
    col = {c: i for i, c in enumerate(cells)}
    ordinary = sorted({kinds[d].weekday for d in train if kinds[d].group == "work" and not kinds[d].swapped})
    dev = ordinary[:-1] if len(ordinary) > 1 else []  # sum-to-zero: the last weekday is minus the others
    rows: list[list[float]] = []
    y: list[float] = []
    w: list[float] = []
    for d in train:
        k = kinds[d]
        for s in slots:
            if (k.group, s) not in col:
                continue
            x = [0.0] * (len(cells) + len(dev))
            x[col[(k.group, s)]] = 1.0
            if k.group == "work" and not k.swapped and dev:
                if k.weekday in dev:
                    x[len(cells) + dev.index(k.weekday)] = 1.0
                else:
                    for j in range(len(dev)):
                        x[len(cells) + j] = -1.0
            rows.append(x)
            y.append(float(per_day.get(d, {}).get(s, 0)))
            w.append(weights[d])
    params = _glm(np.asarray(y), np.asarray(rows), np.asarray(w))
    levels = {c: float(params[i]) for c, i in col.items()}
    weekday = {wd: float(params[len(cells) + j]) for j, wd in enumerate(dev)}
    if dev:
        weekday[ordinary[-1]] = -sum(weekday.values())
    return _Model(levels, weekday, groups)


def _glm(y: Any, x: Any, w: Any) -> Any:
    """Fit the Poisson GLM (log link) by statsmodels' IRLS; the coefficients."""
    from statsmodels.genmod.families import Poisson
    from statsmodels.genmod.generalized_linear_model import GLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    with warnings.catch_warnings():
        # cells without arrivals are left out before the fit, so no level runs off to minus infinity; a history
        # that repeats exactly is then predicted exactly, which statsmodels reports as "perfect prediction"
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = GLM(y, x, family=Poisson(), var_weights=w).fit(maxiter=100)
    return result.params
