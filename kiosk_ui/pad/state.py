"""The pad's state, one group per flow: the counter's customer, the form, the signature, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BOX_WIDTH = 1000  # the signature box is 1000 units wide whatever the screen; heights follow its proportions


@dataclass
class Desk:
    """The counter (name, state, staff) and the ticket it serves, as the core last said."""

    counter: dict[str, Any] | None = None
    ticket: dict[str, Any] | None = None


@dataclass
class Reading:
    """The form the clerk pushed, the rows the customer marked as wrong, what the clerk changed since."""

    form: dict[str, Any] | None = None
    flagged: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    asked: bool = False  # the customer asked the clerk to correct it


@dataclass
class Signing:
    """Handwriting so far: strokes of ``[x, y, t, p]`` points in a ``BOX_WIDTH`` × ``height`` box."""

    form_id: str | None = None
    height: int = 400
    strokes: list[list[list[int | None]]] = field(default_factory=list)
    started: float | None = None  # the screen's time of the first touch (seconds)


@dataclass
class Signed:
    """The record the core sealed for this customer's signature."""

    record: dict[str, Any] | None = None
