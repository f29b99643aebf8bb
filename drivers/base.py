"""The seam between device families and the ``devices`` service.

A device family offers one or more *units*. The service starts each unit with
a ``publish`` callable, forwards bus events to units that act on them, and
reads their health for ``device.health`` events. A unit never imports the bus.

Health states: ``ok``, ``degraded`` (working, with a problem staff should
fix: paper near end), ``fault`` (cannot do its job: paper out, cover open, or
its thread failed and is being restarted), ``offline`` (cannot be reached;
being reopened).

Two pieces every unit shares:

- :class:`HealthBoard` holds a unit's state, a one-line detail and its
  counters, safe to update from any thread;
- :class:`UnitRunner` runs a unit's work on its own thread, one ``step`` at a
  time, and keeps it running: an exception nobody foresaw is logged with its
  traceback, shown as ``fault``, and the work is restarted with backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

HealthState = Literal["ok", "degraded", "fault", "offline"]
DETAIL_MAX = 200
"""Longest health detail: one line a technician reads (the bus allows 500)."""

log = logging.getLogger("hall.devices")


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


def one_line(text: str, limit: int = DETAIL_MAX) -> str:
    """The first non-blank line of ``text``, cut to ``limit`` characters.

    >>> one_line("port failed\\n  Traceback ...")
    'port failed'
    >>> one_line("x" * 300, 10)
    'xxxxxxxxx…'
    """
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


class HealthBoard:
    """A unit's health: its state, a one-line detail and named counters, updated from any thread.

    Every board counts ``restarts`` (the :class:`UnitRunner` restarting the unit's work after a failure)
    beside the counters the unit names; a state change is logged once::

        >>> board = HealthBoard("printer", ("printed", "failed"))
        >>> board.count("printed")
        >>> version = board.set("fault", "paper_out")
        >>> board.health()
        Health(state='fault', detail='paper_out', counters={'printed': 1, 'failed': 0, 'restarts': 0})
    """

    def __init__(
        self, name: str, counters: Iterable[str] = (), *, state: HealthState = "offline", detail: str = "not started"
    ) -> None:
        self.name = name
        self._counts = dict.fromkeys([*counters, "restarts"], 0)
        self._state: HealthState = state
        self._detail = one_line(detail)
        self._version = 0
        self._lock = threading.Lock()

    @property
    def state(self) -> HealthState:
        return self._state

    @property
    def detail(self) -> str:
        return self._detail

    def count(self, counter: str, n: int = 1) -> None:
        with self._lock:
            self._counts[counter] = self._counts.get(counter, 0) + n

    def counter(self, counter: str) -> int:
        with self._lock:
            return self._counts.get(counter, 0)

    def set(self, state: HealthState, detail: str = "") -> int:
        """Report the state now (the detail is cut to one line); returns a version :meth:`clear` compares."""
        detail = one_line(detail)
        with self._lock:
            if (state, detail) != (self._state, self._detail):
                level = logging.INFO if state in ("ok", "degraded") else logging.WARNING
                log.log(level, "%s: %s%s", self.name, state, f" ({detail})" if detail else "")
            self._state, self._detail = state, detail
            self._version += 1
            return self._version

    def clear(self, version: int) -> None:
        """Back to ``ok`` unless the state was reported again since ``version`` (the unit knows better)."""
        with self._lock:
            if self._version != version:
                return
        self.set("ok")

    def health(self, **extra: int) -> Health:
        """The health now; ``extra`` counts are added to the board's (a parser's own tallies)."""
        with self._lock:
            counters = dict(self._counts)
            state, detail = self._state, self._detail
        for name, n in extra.items():
            counters[name] = counters.get(name, 0) + n
        return Health(state, detail, counters)


Step = Callable[[], float]


class UnitRunner:
    """Runs a unit's work on its own thread, one ``step`` at a time, until stopped; keeps it running.

    ``step`` does one round of work (poll a reader, print a job) and returns the seconds to wait before
    the next round; it reports the device's own state on ``board``. An exception escaping ``step`` is a
    failure nobody foresaw: it is logged with its traceback, ``board`` shows ``fault`` with a one-line
    detail and counts a restart, ``reset`` drops what may be broken (a port, a context), and the step
    runs again after a backoff (``restart_first`` doubling up to ``restart_max`` seconds). The first
    round that works afterwards clears the fault, unless the step reported another state itself.
    ``wake`` is called on :meth:`stop` to end a step that waits (put a sentinel in a job queue)::

        runner = UnitRunner("idcard", reader.step, reader.board, reset=reader.close)
        runner.start()
        ...
        runner.stop()
    """

    def __init__(
        self,
        name: str,
        step: Step,
        board: HealthBoard,
        *,
        reset: Callable[[], None] | None = None,
        close: Callable[[], None] | None = None,
        wake: Callable[[], None] | None = None,
        restart_first: float = 0.5,
        restart_max: float = 30.0,
    ) -> None:
        self.name = name
        self.step = step
        self.board = board
        self.reset = reset
        self.close = close
        self.wake = wake
        self.restart_first = restart_first
        self.restart_max = restart_max
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run on a thread of its own (named after the unit)."""
        self.stop_event.clear()
        self._thread = threading.Thread(target=self.run, args=(self.stop_event,), name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.wake is not None:
            self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("%s did not stop within %s s", self.name, timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def checked(self, health: Health) -> Health:
        """``health``, unless the thread has ended without being stopped: then that is the fault."""
        if self._thread is not None and not self._thread.is_alive() and not self.stop_event.is_set():
            return Health("fault", f"{self.name} thread has stopped", health.counters)
        return health

    def run(self, stop: threading.Event) -> None:
        """The loop, in the calling thread, until ``stop`` is set; never raises an ``Exception``."""
        backoff = Backoff(self.restart_first, self.restart_max)
        fault: int | None = None
        try:
            while not stop.is_set():
                try:
                    delay = self.step()
                except Exception as exc:
                    wait = backoff.next()
                    log.error("%s failed; restarting in %.1f s", self.name, wait, exc_info=True)
                    self.board.count("restarts")
                    fault = self.board.set("fault", f"restarting after an internal error: {type(exc).__name__}: {exc}")
                    self._call(self.reset, "reset")
                    stop.wait(wait)
                    continue
                if fault is not None:
                    self.board.clear(fault)
                    fault = None
                    backoff.reset()
                if delay > 0:
                    stop.wait(delay)
        finally:
            self._call(self.close, "close")

    def _call(self, fn: Callable[[], None] | None, what: str) -> None:
        if fn is None:
            return
        try:
            fn()
        except Exception:
            log.exception("%s: %s failed", self.name, what)
