"""Choosing the face-match threshold for a target false-accept rate, from labelled pairs.

The recognisers here were trained mostly on Western faces, so a hall calibrates on its own
labelled pairs (same person / different people) before VIP matching is switched on. The
threshold is the lowest similarity at which at most ``far`` of the impostor pairs would be
accepted; the genuine pairs then say how often a true customer would be missed::

    >>> c = threshold_for_far(genuine=[0.7, 0.8, 0.9], impostor=[0.1, 0.2, 0.3, 0.35], far=0.0)
    >>> round(c.threshold, 4), c.false_accepts, c.false_rejects
    (0.3501, 0, 0)

With too few impostor pairs a small target cannot be shown (``enough`` is False): at least
``1 / far`` impostor pairs are needed to measure a false-accept rate of ``far``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

STEP = 1e-4


@dataclass(frozen=True)
class Calibration:
    threshold: float
    far_target: float
    false_accepts: int
    false_rejects: int
    genuine: int
    impostor: int
    enough: bool

    @property
    def far(self) -> float:
        return self.false_accepts / self.impostor if self.impostor else 0.0

    @property
    def frr(self) -> float:
        return self.false_rejects / self.genuine if self.genuine else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "far": round(self.far, 6), "frr": round(self.frr, 6)}


def threshold_for_far(genuine: list[float], impostor: list[float], far: float) -> Calibration:
    """The lowest threshold whose impostor accept rate is at most ``far``."""
    if not impostor:
        raise ValueError("calibration needs impostor pairs (different people)")
    if not 0.0 <= far < 1.0:
        raise ValueError(f"target false-accept rate {far} is not in [0, 1)")
    ranked = sorted(impostor, reverse=True)
    allowed = math.floor(far * len(ranked))
    # accept only the `allowed` highest impostors: sit just above the next one
    threshold = ranked[allowed] + STEP if allowed < len(ranked) else ranked[-1]
    accepts = sum(1 for s in impostor if s >= threshold)
    rejects = sum(1 for s in genuine if s < threshold)
    enough = far > 0 and len(impostor) >= math.ceil(1 / far)
    return Calibration(threshold, far, accepts, rejects, len(genuine), len(impostor), enough)
