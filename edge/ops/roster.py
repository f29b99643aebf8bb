"""A weekly roster suggestion from the staffing plan, staff skills and shift rules (OR-tools CP-SAT).

Each person works at most one shift a day and at most ``max_days`` days; in each
slot the people on shift should cover the counters the plan asks for, and for
each business the people able to serve it (their counters' skills) should cover
what Erlang C asks for that business alone. What cannot be covered is reported
slot by slot, never hidden: the solver minimises missing counters first, then
the hours rostered, then the spread between the busiest and the idlest person::

    >>> from datetime import date
    >>> from edge.ops.config import Shift
    >>> need = {(date(2026, 3, 2), 540): Need(1, {"A": 1})}
    >>> r = suggest([date(2026, 3, 2)], need, 30, [Person("w", "王芳", frozenset({"A"}))],
    ...             [Shift(name="上午", start="08:30", end="12:30")], max_days=5)
    >>> [(a["staff"], a["shift"]) for a in r["assignments"]], r["short"]
    ([('w', '上午')], [])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from edge.ops.config import Shift

MISSING_WEIGHT = 10_000_000
SPREAD_WEIGHT = 2


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    skills: frozenset[str]  # businesses this person can serve


@dataclass(frozen=True)
class Need:
    counters: int
    businesses: dict[str, int] = field(default_factory=dict)


def suggest(
    days: Sequence[date],
    need: Mapping[tuple[date, int], Need],  # (day, slot start in minutes after midnight) → need
    slot_minutes: int,
    staff: Sequence[Person],
    shifts: Sequence[Shift],
    *,
    max_days: int,
    time_limit_s: float = 10.0,
) -> dict[str, Any]:
    """``{"assignments": [{staff, name, day, shift, start, end}], "short": [{day, start, missing, business?}], …}``."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    works: dict[tuple[int, int, int], Any] = {}
    for p in range(len(staff)):
        for d in range(len(days)):
            for s in range(len(shifts)):
                works[p, d, s] = model.new_bool_var(f"w{p}_{d}_{s}")
            model.add(sum(works[p, d, s] for s in range(len(shifts))) <= 1)
        model.add(sum(works[p, d, s] for d in range(len(days)) for s in range(len(shifts))) <= max_days)

    def on_shift(minute: int) -> list[int]:
        """The shifts that cover the whole slot starting at ``minute``."""
        return [s for s, sh in enumerate(shifts) if sh.minutes[0] <= minute and minute + slot_minutes <= sh.minutes[1]]

    missing: list[tuple[Any, dict[str, Any]]] = []
    for (day, minute), n in sorted(need.items()):
        if day not in days or (n.counters <= 0 and not any(n.businesses.values())):
            continue
        d = days.index(day)
        covering = on_shift(minute)
        where = {"day": day.isoformat(), "start": f"{minute // 60:02d}:{minute % 60:02d}"}
        gap = model.new_int_var(0, max(0, n.counters), f"gap_{d}_{minute}")
        model.add(sum(works[p, d, s] for p in range(len(staff)) for s in covering) + gap >= n.counters)
        missing.append((gap, where))
        for b, k in n.businesses.items():
            if k <= 0:
                continue
            able = [p for p, person in enumerate(staff) if b in person.skills]
            gap_b = model.new_int_var(0, k, f"gap_{d}_{minute}_{b}")
            model.add(sum(works[p, d, s] for p in able for s in covering) + gap_b >= k)
            missing.append((gap_b, {**where, "business": b}))
    load = [
        sum(
            works[p, d, s] * (shifts[s].minutes[1] - shifts[s].minutes[0])
            for d in range(len(days))
            for s in range(len(shifts))
        )
        for p in range(len(staff))
    ]
    top = model.new_int_var(0, 7 * 24 * 60, "top")
    bottom = model.new_int_var(0, 7 * 24 * 60, "bottom")
    for x in load:
        model.add(top >= x)
        model.add(bottom <= x)
    # minutes: a missing counter outweighs any roster's hours; then hours; then the spread between people
    model.minimize(MISSING_WEIGHT * sum(g for g, _ in missing) + sum(load) + SPREAD_WEIGHT * (top - bottom))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return {"status": "none", "assignments": [], "short": [], "days": [d.isoformat() for d in days]}
    assignments = [
        {
            "staff": staff[p].id,
            "name": staff[p].name,
            "day": days[d].isoformat(),
            "shift": shifts[s].name,
            "start": shifts[s].start,
            "end": shifts[s].end,
        }
        for (p, d, s), var in sorted(works.items())
        if solver.value(var)
    ]
    short = [{**where, "missing": solver.value(g)} for g, where in missing if solver.value(g)]
    return {
        "status": "optimal" if status == cp_model.OPTIMAL else "feasible",
        "days": [d.isoformat() for d in days],
        "assignments": assignments,
        "short": short,
        "hours": {person.id: round(solver.value(load[p]) / 60, 1) for p, person in enumerate(staff)},
    }
