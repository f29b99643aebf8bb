"""The events written in the open transaction, waiting to be published once it commits.

One :class:`Outbox` per core. The queue engine and the core's areas ``add`` the
events they append to the log (and the facts published without logging); a
request or a guarded step takes a ``mark`` first and, when it fails and its
rows are rolled back, ``discard``\\ s back to it; after the commit the hub
``take``\\ s them all and publishes them. Nothing reaches the bus that did not
reach the disk::

    >>> box = Outbox()
    >>> box.add({"topic": "ticket.issued"})
    >>> mark = box.mark()
    >>> box.add({"topic": "ticket.called"})
    >>> box.discard(mark)              # that request failed: its event goes with its rows
    >>> [e["topic"] for e in box.take()], len(box)
    (['ticket.issued'], 0)
"""

from __future__ import annotations

from edge.envelope import Envelope


class Outbox:
    def __init__(self) -> None:
        self._events: list[Envelope] = []

    def add(self, event: Envelope) -> None:
        """An event written (or to be published) in the current transaction."""
        self._events.append(event)

    def mark(self) -> int:
        """Where the outbox stands now, to :meth:`discard` back to."""
        return len(self._events)

    def discard(self, mark: int = 0) -> None:
        """Forget the events added since ``mark`` (all of them by default): their transaction was undone."""
        del self._events[mark:]

    def take(self) -> list[Envelope]:
        """Every waiting event, in order, leaving the outbox empty (after the commit)."""
        out, self._events = self._events, []
        return out

    def __len__(self) -> int:
        return len(self._events)
