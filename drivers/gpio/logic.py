"""Pure logic behind the GPIO devices: debouncing, passage direction, presence hold, light timing.

Nothing here touches a pin; every function takes the time explicitly, so the
rules are tested with exact times. A person walking in breaks the outer beam
first and clears the inner beam last::

    >>> door = Passage()
    >>> [door.change(b, s) for b, s in [("outer", True), ("inner", True), ("outer", False), ("inner", False)]]
    [None, None, None, 'in']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Beam = Literal["outer", "inner"]
Direction = Literal["in", "out"]


class Debounced:
    """A boolean input that changes only after the raw value has been stable for ``hold`` seconds.

    >>> d = Debounced(0.05)
    >>> d.update(True, 1.00); d.update(False, 1.01)  # a 10 ms blip
    >>> d.advance(2.0), d.value
    (None, False)
    >>> d.update(True, 3.00); d.advance(3.06)
    (True, 3.0)
    """

    def __init__(self, hold: float, value: bool = False) -> None:
        self.hold = hold
        self.value = value
        self.raw = value
        self.since = 0.0

    def update(self, raw: bool, now: float) -> None:
        if raw != self.raw:
            self.raw = raw
            self.since = now

    def due(self) -> float | None:
        """When the pending change would be confirmed, or None when nothing is pending."""
        return self.since + self.hold if self.raw != self.value else None

    def advance(self, now: float) -> tuple[bool, float] | None:
        """Confirm a pending change that has been stable long enough: (new value, when it changed)."""
        if self.raw != self.value and now - self.since >= self.hold:
            self.value = self.raw
            return self.value, self.since
        return None


@dataclass
class Passage:
    """Direction from the order of two beams; one passage per time both beams are clear again.

    Counted ``in`` when the outer beam broke first and the inner beam cleared last, ``out`` for the
    reverse; someone who turns back (first and last beam the same) or breaks one beam only is not
    counted (``ignored``). However long a person lingers, the passage ends once.
    """

    broken: set[str] = field(default_factory=set)
    first: str | None = None
    both: bool = False
    ignored: int = 0

    def change(self, beam: Beam, is_broken: bool) -> Direction | None:
        if is_broken:
            if not self.broken:
                self.first, self.both = beam, False
            self.broken.add(beam)
            if len(self.broken) == 2:
                self.both = True
            return None
        self.broken.discard(beam)
        if self.broken or self.first is None:
            return None
        first, self.first = self.first, None
        if self.both and first == "outer" and beam == "inner":
            return "in"
        if self.both and first == "inner" and beam == "outer":
            return "out"
        self.ignored += 1
        return None


@dataclass(frozen=True)
class LightPlan:
    """Timing of the guidance lights: each call lights its path segment by segment and blinks its lamp."""

    paths: dict[str, tuple[str, ...]]
    lamps: dict[str, str]
    step_s: float = 0.4
    on_s: float = 10.0
    blink_s: float = 0.5
    brightness: float = 1.0

    def levels(self, calls: dict[str, float], now: float) -> dict[str, float]:
        """Brightness of every light at ``now`` given the start time of each counter's active call.

        Concurrent calls share the floor: a segment on two paths stays lit while either call wants it.
        """
        out = {name: 0.0 for path in self.paths.values() for name in path}
        out.update({name: 0.0 for name in self.lamps.values()})
        for counter, start in calls.items():
            t = now - start
            if t < 0 or t >= self.on_s:
                continue
            for i, seg in enumerate(self.paths.get(counter, ())):
                if t >= i * self.step_s:
                    out[seg] = self.brightness
            lamp = self.lamps.get(counter)
            if lamp is not None and int(t // self.blink_s) % 2 == 0:
                out[lamp] = 1.0
        return out

    def active(self, calls: dict[str, float], now: float) -> dict[str, float]:
        return {c: s for c, s in calls.items() if now - s < self.on_s}
