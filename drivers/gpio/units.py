"""GPIO units: entrance beam pairs, seat sensors and guidance lights, on gpiozero pins.

Every unit takes a gpiozero pin factory (``None`` = gpiozero's default, the real
pins on a Raspberry Pi; ``MockFactory(pin_class=MockPWMPin)`` in tests and the
demo) and a clock. Edges are timestamped by the pin callbacks; a poll (the
unit's own thread, or the test calling :meth:`poll`) confirms debounced
changes and publishes them::

    from gpiozero.pins.mock import MockFactory
    sensors = SensorUnit("ir", [Entrance("door", "GPIO5", "GPIO6")], [], factory=MockFactory())
    sensors.start(publish)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.base import Health, HealthBoard, Publish, UnitRunner
from drivers.errors import DeviceUnavailable
from drivers.gpio.logic import Beam, Debounced, LightPlan, Passage

log = logging.getLogger("hall.devices.gpio")
Clock = Callable[[], float]


@dataclass(frozen=True)
class Entrance:
    name: str
    outer_pin: str
    inner_pin: str
    debounce_s: float = 0.05
    broken_high: bool = True
    stuck_s: float = 60.0


@dataclass(frozen=True)
class Seat:
    counter: str
    pin: str
    hold_s: float = 3.0
    present_high: bool = True


def _input(pin: str, active_high: bool, factory: Any) -> Any:
    from gpiozero import DigitalInputDevice, GPIOZeroError

    try:
        return DigitalInputDevice(pin, pull_up=None, active_state=active_high, pin_factory=factory)
    except (GPIOZeroError, ValueError) as exc:
        raise DeviceUnavailable(f"cannot use GPIO pin {pin}: {exc}") from exc


class _Poller:
    """Calls ``poll`` every ``interval`` seconds on a :class:`UnitRunner` (no thread when interval is None).

    A poll that raises is logged with its traceback and shown as the unit's ``fault`` until a poll works again.
    """

    def __init__(self, name: str, poll: Callable[[], None], interval: float | None, board: HealthBoard) -> None:
        self.runner: UnitRunner | None = None
        if interval is not None:
            wait = interval

            def step() -> float:
                poll()
                return wait

            self.runner = UnitRunner(name, step, board)

    def start(self) -> None:
        if self.runner is not None:
            self.runner.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop(5)

    def checked(self, health: Health) -> Health:
        return health if self.runner is None else self.runner.checked(health)


def _with_board(board: HealthBoard, health: Health) -> Health:
    """``health`` as the unit sees it, unless its board reports a failed poll (``fault``)."""
    own = board.health()
    counters = {**health.counters, "restarts": own.counters["restarts"]}
    if own.state != "ok":
        return Health(own.state, own.detail, counters)
    return Health(health.state, health.detail, counters)


class SensorUnit:
    """Entrance beam pairs (``door.crossed``) and seat sensors (``seat.presence``).

    Each seat's state is published once at start (so a restart tells the hall where things stand),
    then on every change that lasts ``hold_s``.
    """

    def __init__(
        self,
        name: str,
        entrances: list[Entrance],
        seats: list[Seat],
        *,
        factory: Any = None,
        clock: Clock = time.monotonic,
        poll_interval: float | None = 0.01,
    ) -> None:
        self.name = name
        self.entrances = entrances
        self.seats = seats
        self.factory = factory
        self.clock = clock
        self.counters = {"in": 0, "out": 0, "ignored": 0, "seat_changes": 0}
        self._lock = threading.Lock()
        self._devices: list[Any] = []
        self._beams: dict[tuple[str, Beam], Debounced] = {}
        self._passages = {e.name: Passage() for e in entrances}
        self._seats = {s.counter: Debounced(s.hold_s) for s in seats}
        self._publish: Publish | None = None
        self._error = ""
        self._announce_seats = True
        self.board = HealthBoard(f"sensors {name}", state="ok", detail="")
        self._poller = _Poller(f"gpio:{name}", self.poll, poll_interval, self.board)

    def start(self, publish: Publish) -> None:
        self._publish = publish
        self._announce_seats = True
        try:
            for e in self.entrances:
                for beam, pin in (("outer", e.outer_pin), ("inner", e.inner_pin)):
                    self._beams[(e.name, beam)] = Debounced(e.debounce_s)  # type: ignore[index]
                    self._watch(pin, e.broken_high, self._beams[(e.name, beam)])  # type: ignore[index]
            for s in self.seats:
                self._watch(s.pin, s.present_high, self._seats[s.counter])
        except DeviceUnavailable as exc:
            self._error = str(exc)
            log.error("%s", exc)
        self._poller.start()

    def _watch(self, pin: str, active_high: bool, target: Debounced) -> None:
        dev = _input(pin, active_high, self.factory)
        self._devices.append(dev)

        def changed(value: bool) -> Callable[[], None]:
            def fire() -> None:
                with self._lock:
                    target.update(value, self.clock())

            return fire

        dev.when_activated = changed(True)
        dev.when_deactivated = changed(False)
        with self._lock:
            target.update(bool(dev.value), self.clock())
            target.value = target.raw

    def poll(self) -> None:
        """Confirm debounced changes (in the order they happened) and publish what they mean."""
        now = self.clock()
        out: list[tuple[str, dict[str, Any], bool]] = []
        with self._lock:
            confirmed: list[tuple[float, str, Beam, bool]] = []
            for (door, beam), deb in self._beams.items():
                got = deb.advance(now)
                if got is not None:
                    confirmed.append((got[1], door, beam, got[0]))
            for _, door, beam, broken in sorted(confirmed):
                passage = self._passages[door]
                before = passage.ignored
                direction = passage.change(beam, broken)
                self.counters["ignored"] += passage.ignored - before
                if direction is not None:
                    self.counters[direction] += 1
                    out.append(("door.crossed", {"direction": direction, "source": f"ir:{door}"}, True))
            if self._announce_seats:
                self._announce_seats = False
                for counter, deb in self._seats.items():
                    out.append(("seat.presence", {"counter": counter, "present": deb.value, "source": "ir"}, False))
            for counter, deb in self._seats.items():
                got = deb.advance(now)
                if got is not None:
                    self.counters["seat_changes"] += 1
                    # a change is a staffing fact for HQ's analytics (as the camera's seats are)
                    out.append(("seat.presence", {"counter": counter, "present": got[0], "source": "ir"}, True))
        for topic, data, durable in out:
            if self._publish is not None:
                self._publish(topic, data, durable=durable)

    def health(self) -> Health:
        return self._poller.checked(_with_board(self.board, self._health()))

    def _health(self) -> Health:
        with self._lock:
            counters = dict(self.counters)
            if self._error:
                return Health("offline", self._error, counters)
            now = self.clock()
            stuck = [
                f"beam {door}/{beam} blocked"
                for (door, beam), deb in self._beams.items()
                for e in self.entrances
                if e.name == door and deb.value and now - deb.since > e.stuck_s
            ]
        if stuck:
            return Health("degraded", "; ".join(stuck), counters)
        return Health("ok", "", counters)

    def stop(self) -> None:
        self._poller.stop()
        for dev in self._devices:
            dev.close()
        self._devices.clear()


class LightsUnit:
    """Guidance lights: on ``ticket.called``/``ticket.recalled`` the path to the counter chases on, its lamp blinks."""

    topics: tuple[str, ...] = ("ticket.called", "ticket.recalled")

    def __init__(
        self,
        name: str,
        plan: LightPlan,
        pins: dict[str, str],
        *,
        factory: Any = None,
        clock: Clock = time.monotonic,
        poll_interval: float | None = 0.05,
    ) -> None:
        self.name = name
        self.plan = plan
        self.pins = pins
        self.factory = factory
        self.clock = clock
        self.calls: dict[str, float] = {}
        self.counters = {"calls": 0, "unknown_counter": 0}
        self.leds: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._error = ""
        self.board = HealthBoard(f"lights {name}", state="ok", detail="")
        self._poller = _Poller(f"lights:{name}", self.poll, poll_interval, self.board)

    def start(self, publish: Publish) -> None:
        from gpiozero import PWMLED, GPIOZeroError

        try:
            for light, pin in self.pins.items():
                self.leds[light] = PWMLED(pin, pin_factory=self.factory)
        except (GPIOZeroError, ValueError) as exc:
            self._error = f"cannot use GPIO pin for lights: {exc}"
            log.error("%s", self._error)
        self._poller.start()

    def on_event(self, env: dict[str, Any]) -> None:
        counter = str((env.get("data") or {}).get("counter") or "")
        if counter not in self.plan.paths and counter not in self.plan.lamps:
            self.counters["unknown_counter"] += 1
            return
        with self._lock:
            self.calls[counter] = self.clock()
            self.counters["calls"] += 1
        self.poll()

    def poll(self) -> None:
        """Set every light to its level now; only lights whose level changed are written."""
        with self._lock:
            now = self.clock()
            levels = self.plan.levels(self.calls, now)
            self.calls = self.plan.active(self.calls, now)
            for light, level in levels.items():
                led = self.leds.get(light)
                if led is not None and led.value != level:
                    led.value = level

    def health(self) -> Health:
        with self._lock:
            counters = dict(self.counters)
        own = Health("offline", self._error, counters) if self._error else Health("ok", "", counters)
        return self._poller.checked(_with_board(self.board, own))

    def stop(self) -> None:
        self._poller.stop()
        for led in self.leds.values():
            led.close()
        self.leds.clear()
