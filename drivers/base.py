"""The seam between device families and the ``devices`` service.

A device family offers one or more *units*. The service starts each unit with
a ``publish`` callable, forwards bus events to units that act on them, and
reads their health for ``device.health`` events. A unit never imports the bus.

Health states: ``ok``, ``degraded`` (working, with a problem staff should
fix: paper near end), ``fault`` (cannot do its job: paper out, cover open),
``offline`` (cannot be reached; being reopened).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

HealthState = Literal["ok", "degraded", "fault", "offline"]


class Publish(Protocol):
    def __call__(self, topic: str, data: dict[str, Any], *, durable: bool = ...) -> None: ...


@dataclass
class Health:
    state: HealthState
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, "counters": dict(self.counters)}


class DeviceUnit(Protocol):
    """One device (or a group of pins) run by the devices service."""

    name: str

    def start(self, publish: Publish) -> None:
        """Open the device and start its own thread(s); never raise for a missing device (report it in health)."""

    def stop(self) -> None:
        """Stop threads and close the transport."""

    def health(self) -> Health:
        """The device's state now."""


class EventConsumer(Protocol):
    """A unit that acts on bus events (printer on ``ticket.issued``, lights and voice on ``ticket.called``)."""

    topics: tuple[str, ...]

    def on_event(self, env: dict[str, Any]) -> None: ...


class Backoff:
    """Delays for reopening a lost device: ``first`` doubling up to ``cap`` seconds, reset on success.

    >>> b = Backoff(0.5, 2.0)
    >>> [b.next() for _ in range(4)]
    [0.5, 1.0, 2.0, 2.0]
    """

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.first
