"""People in the hall from several sources, each with its error, fused with an uncertainty.

Each source gives a count and a standard error; the estimate is their
inverse-variance weighted mean, whose standard error is ``1/sqrt(Σ 1/σᵢ²)``.
How far each source lies from the others is its residual in its own standard
errors; a large one means that source is broken (a blocked beam counts nobody
out, a moved camera sees an empty corner). With three sources or more, one that
lies more than ``reject`` standard errors from the others is left out of the
estimate and named. Beams that counted 120 in and 101 out, a camera that sees 3
people and 32 tickets in the queue::

    >>> e = reconcile([beams(120, 101, 0.03), cameras(3, 1.0, 0.2), queue(32, 1.2, 0.3)])
    >>> round(e.people), round(e.sigma), e.worst, e.rejected
    (24, 7, 'camera', 'camera')

Error models (:class:`edge.ops.config.Occupancy`):

- IR beams (or a camera's counting line where there is no beam): entries minus exits today; each passage may be missed, so the error
  grows with the passages counted: ``1 + miss_rate · passages``.
- cameras: the people the zones see now, scaled by the share of the floor they
  cover: ``1 + camera_error · count``; a count older than ``fresh_s`` is not used.
- queue: tickets waiting or at a counter times people per ticket: ``1 + queue_error · count``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    name: str
    people: float
    sigma: float


@dataclass(frozen=True)
class Estimate:
    people: float
    sigma: float
    sources: tuple[Source, ...]
    residuals: dict[str, float]  # each source's distance from the others, in its own standard errors
    worst: str | None  # the source that disagrees most
    rejected: str | None = None  # the source left out of the estimate

    def as_dict(self) -> dict[str, object]:
        return {
            "people": round(self.people, 1),
            "sigma": round(self.sigma, 1),
            "sources": [
                {"name": s.name, "people": round(s.people, 1), "sigma": round(s.sigma, 1)} for s in self.sources
            ],
            "residuals": {k: round(v, 2) for k, v in self.residuals.items()},
            "worst": self.worst,
            "rejected": self.rejected,
        }


def reconcile(sources: Sequence[Source], reject: float = 3.0) -> Estimate | None:
    """The fused estimate of the sources given (None when there is none)."""
    usable = [s for s in sources if s.sigma > 0 and math.isfinite(s.people)]
    if not usable:
        return None
    first = _fuse(usable)
    if len(usable) >= 3 and first.worst is not None and first.residuals[first.worst] > reject:
        kept = _fuse([s for s in usable if s.name != first.worst])
        return Estimate(kept.people, kept.sigma, tuple(usable), first.residuals, first.worst, first.worst)
    return first


def _fuse(usable: Sequence[Source]) -> Estimate:
    weights = [1 / s.sigma**2 for s in usable]
    people = sum(w * s.people for w, s in zip(weights, usable, strict=True)) / sum(weights)
    sigma = 1 / math.sqrt(sum(weights))
    residuals: dict[str, float] = {}
    for i, s in enumerate(usable):
        others = [(w, o) for j, (w, o) in enumerate(zip(weights, usable, strict=True)) if j != i]
        if not others:
            continue
        rest = sum(w * o.people for w, o in others) / sum(w for w, _ in others)
        rest_sigma = 1 / math.sqrt(sum(w for w, _ in others))
        residuals[s.name] = abs(s.people - rest) / math.sqrt(s.sigma**2 + rest_sigma**2)
    worst = max(residuals, key=lambda k: residuals[k]) if residuals else None
    return Estimate(max(0.0, people), sigma, tuple(usable), residuals, worst)


def beams(entries: int, exits: int, miss_rate: float) -> Source:
    return Source("ir", max(0, entries - exits), 1 + miss_rate * (entries + exits))


def cameras(seen: float, coverage: float, error: float) -> Source:
    people = seen / coverage
    return Source("camera", people, 1 + error * people)


def queue(tickets: int, per_ticket: float, error: float) -> Source:
    people = tickets * per_ticket
    return Source("queue", people, 1 + error * people)
