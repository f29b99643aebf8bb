"""Seat quality and points, per staff member and per counter, for one business day.

From the day's tickets (each carries the counter that called it and who was at
that counter then), the ratings, and the counters' pauses:

- **volume**: tickets called and served; **handling** minutes by business;
- **no-show rate** and **transfer rate**: no-shows and transfers per ticket called;
- **waits caused**: customer-minutes of waiting, by customers the counter could
  serve, while the counter was paused;
- **ratings**: count, average, the 1–5 histogram and the reasons given;
- **negative-expression share**: of the faces the vision service saw at the counter
  (``emotion.window`` reports naming it), weighted by the people in each report, and
  for a staff member those seen while they were serving there;
- **points**: from the hall's rules (:class:`edge.ops.config.PointRule`), with each rule's share.

    >>> t = [{"business": "A", "state": "done", "queued_at": 0, "called_at": 60, "finished_at": 240,
    ...       "counter": "1", "staff": "王芳"}]
    >>> e = [{"score": 5, "reasons": ["耐心"], "counter": "1", "staff": "王芳"}]
    >>> row = seat_table(t, e, [], {"1": {"A"}}, DEFAULT_POINTS, now=300)["staff"][0]
    >>> row["served"], row["handling_minutes"], row["ratings"]["histogram"], row["points"]
    (1, {'A': 3.0}, [0, 0, 0, 0, 1], 3.0)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge.ops.config import DEFAULT_POINTS, PointRule

__all__ = ["DEFAULT_POINTS", "Pause", "points", "seat_table"]
CALLED = ("called", "serving", "done", "no_show", "transferred")


@dataclass(frozen=True)
class Pause:
    counter: str
    staff: str | None
    start: float
    end: float


@dataclass(frozen=True)
class Mood:
    counter: str
    staff: str | None  # who was serving at the counter then, if anyone
    people: int
    negative: float  # share of negative expressions among them


def _new() -> dict[str, Any]:
    return {
        "called": 0,
        "served": 0,
        "no_show": 0,
        "transferred": 0,
        "_handling": defaultdict(list),
        "waits_caused_minutes": 0.0,
        "_scores": [],
        "_reasons": Counter(),
        "_faces": 0,
        "_negative": 0.0,
    }


def points(
    row: Mapping[str, Any], scores: Sequence[tuple[int, Sequence[str]]], rules: Iterable[PointRule]
) -> dict[str, float]:
    """Points earned under each rule (by rule name) from a row's counts and its ratings."""
    out: dict[str, float] = {}
    for rule in rules:
        if rule.per == "served":
            n = row["served"]
        elif rule.per == "no_show":
            n = row["no_show"]
        elif rule.per == "transfer":
            n = row["transferred"]
        else:
            n = sum(
                1
                for score, reasons in scores
                if rule.min_score <= score <= rule.max_score and (not rule.reason or rule.reason in reasons)
            )
        out[rule.name] = out.get(rule.name, 0.0) + n * rule.points
    return out


def seat_table(
    tickets: Iterable[Mapping[str, Any]],
    evaluations: Iterable[Mapping[str, Any]],
    pauses: Iterable[Pause],
    serves: Mapping[str, set[str]],
    rules: Iterable[PointRule],
    *,
    now: float,
    moods: Iterable[Mood] = (),
) -> dict[str, list[dict[str, Any]]]:
    """``{"staff": [...], "counters": [...]}``, one row per staff member and per counter that worked."""
    tickets = list(tickets)
    rules = list(rules)
    groups: dict[str, dict[str, dict[str, Any]]] = {"staff": defaultdict(_new), "counters": defaultdict(_new)}
    for t in tickets:
        if t["state"] not in CALLED or t.get("called_at") is None or not t.get("counter"):
            continue
        for kind, key in (("staff", t.get("staff") or "—"), ("counters", t["counter"])):
            g = groups[kind][key]
            g["called"] += 1
            if t["state"] == "done":
                g["served"] += 1
                g["_handling"][t["business"]].append((t.get("finished_at") or now) - t["called_at"])
            elif t["state"] == "no_show":
                g["no_show"] += 1
            elif t["state"] == "transferred":
                g["transferred"] += 1
    for e in evaluations:
        for kind, key in (("staff", e.get("staff") or "—"), ("counters", e.get("counter") or "—")):
            g = groups[kind][key]
            g["_scores"].append((int(e["score"]), list(e.get("reasons") or [])))
            g["_reasons"].update(e.get("reasons") or [])
    for p in pauses:
        able = serves.get(p.counter, set())
        lost = 0.0
        for t in tickets:
            if t["business"] not in able or t.get("parent_id"):
                continue
            waited_until = t.get("called_at") or t.get("finished_at") or now
            lost += max(0.0, min(p.end, waited_until) - max(p.start, t["queued_at"]))
        for kind, key in (("staff", p.staff or "—"), ("counters", p.counter)):
            groups[kind][key]["waits_caused_minutes"] += lost / 60
    for m in moods:
        targets = [("counters", m.counter)] + ([("staff", m.staff)] if m.staff else [])
        for kind, key in targets:
            if key in groups[kind]:
                groups[kind][key]["_faces"] += m.people
                groups[kind][key]["_negative"] += m.people * m.negative
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, rows in groups.items():
        done = []
        for key, g in sorted(rows.items()):
            if key == "—" and not g["called"]:
                continue
            handling = g.pop("_handling")
            scores = g.pop("_scores")
            reasons = g.pop("_reasons")
            faces, negative = g.pop("_faces"), g.pop("_negative")
            all_h = [h for hs in handling.values() for h in hs]
            earned = points(g, scores, rules)
            done.append(
                {
                    ("staff" if kind == "staff" else "counter"): key,
                    **g,
                    "waits_caused_minutes": round(g["waits_caused_minutes"], 1),
                    "handling_minutes": {b: round(sum(h) / len(h) / 60, 1) for b, h in sorted(handling.items())},
                    "avg_handling_minutes": round(sum(all_h) / len(all_h) / 60, 1) if all_h else None,
                    "no_show_rate": round(g["no_show"] / g["called"], 3) if g["called"] else None,
                    "transfer_rate": round(g["transferred"] / g["called"], 3) if g["called"] else None,
                    "ratings": {
                        "count": len(scores),
                        "average": round(sum(s for s, _ in scores) / len(scores), 2) if scores else None,
                        "histogram": [sum(1 for s, _ in scores if s == n) for n in range(1, 6)],
                        "reasons": dict(reasons.most_common()),
                    },
                    "faces": faces,
                    "negative_share": round(negative / faces, 3) if faces else None,
                    "points": round(sum(earned.values()), 1),
                    "points_by_rule": {k: round(v, 1) for k, v in earned.items()},
                }
            )
        out[kind] = done
    return out
