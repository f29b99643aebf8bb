"""Beams, seats and lights on gpiozero's MockFactory pins, driven in sequences with a controlled clock."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from drivers.gpio.logic import Debounced, LightPlan, Passage
from drivers.gpio.sim import SeatSimulator, Walker
from drivers.gpio.units import Entrance, LightsUnit, Seat, SensorUnit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> None:
        self.now += dt


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any], bool]] = []
        self.q: queue.Queue[tuple[str, dict[str, Any], bool]] = queue.Queue()

    def __call__(self, topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        self.items.append((topic, data, durable))
        self.q.put((topic, data, durable))


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()
    Device.pin_factory = None


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sensors(factory: MockFactory, clock: Clock, **kw: Any) -> tuple[SensorUnit, Events]:
    unit = SensorUnit(
        "ir",
        [Entrance("door", "GPIO5", "GPIO6", debounce_s=0.05)],
        [Seat("1", "GPIO13", hold_s=2.0)],
        factory=factory,
        clock=clock,
        poll_interval=None,
    )
    events = Events()
    unit.start(events)
    return unit, events


def step(factory: MockFactory, clock: Clock, unit: SensorUnit, pin: str, high: bool, dt: float = 0.1) -> None:
    p = factory.pin(pin)
    p.drive_high() if high else p.drive_low()
    clock.advance(dt)
    unit.poll()


OUT, IN = "GPIO5", "GPIO6"


def test_direction_from_the_order_of_the_beams(factory: MockFactory, clock: Clock) -> None:
    unit, events = sensors(factory, clock)
    unit.poll()
    events.items.clear()  # the seat's state at start
    for pin, high in [(OUT, True), (IN, True), (OUT, False), (IN, False)]:
        step(factory, clock, unit, pin, high)
    for pin, high in [(IN, True), (OUT, True), (IN, False), (OUT, False)]:
        step(factory, clock, unit, pin, high)
    assert events.items == [
        ("door.crossed", {"direction": "in", "source": "ir:door"}, True),
        ("door.crossed", {"direction": "out", "source": "ir:door"}, True),
    ]
    assert unit.health().counters["in"] == 1 and unit.health().counters["out"] == 1
    unit.stop()


def test_lingering_and_turning_back_and_bounces(factory: MockFactory, clock: Clock) -> None:
    unit, events = sensors(factory, clock)
    unit.poll()
    events.items.clear()  # the seat's state at start
    # Someone stands in both beams for a minute, then walks in: one passage.
    step(factory, clock, unit, OUT, True)
    step(factory, clock, unit, IN, True, dt=60.0)
    assert unit.health().state == "degraded" and "blocked" in unit.health().detail
    step(factory, clock, unit, OUT, False)
    step(factory, clock, unit, IN, False)
    # Someone steps into the outer beam and back out: nothing.
    step(factory, clock, unit, OUT, True)
    step(factory, clock, unit, OUT, False)
    # Contact bounce: 10 ms blips on both beams are never confirmed.
    for pin in (OUT, IN, OUT):
        factory.pin(pin).drive_high()
        clock.advance(0.01)
        factory.pin(pin).drive_low()
        clock.advance(0.01)
        unit.poll()
    clock.advance(1.0)
    unit.poll()
    assert events.items == [("door.crossed", {"direction": "in", "source": "ir:door"}, True)]
    assert unit.health().counters["ignored"] == 1 and unit.health().state == "ok"
    unit.stop()


def test_seat_presence_needs_the_hold_time(factory: MockFactory, clock: Clock) -> None:
    unit, events = sensors(factory, clock)
    unit.poll()
    assert events.items == [("seat.presence", {"counter": "1", "present": False, "source": "ir"}, False)]
    events.items.clear()
    step(factory, clock, unit, "GPIO13", True, dt=1.0)  # sat down 1 s: not yet
    step(factory, clock, unit, "GPIO13", False, dt=0.5)  # leaned away briefly
    step(factory, clock, unit, "GPIO13", True, dt=1.9)
    assert events.items == []
    clock.advance(0.2)
    unit.poll()
    assert events.items == [("seat.presence", {"counter": "1", "present": True, "source": "ir"}, True)]
    step(factory, clock, unit, "GPIO13", False, dt=2.5)
    assert events.items[-1] == ("seat.presence", {"counter": "1", "present": False, "source": "ir"}, True)
    unit.stop()


def test_walker_through_the_unit_thread_on_real_time(factory: MockFactory) -> None:
    unit = SensorUnit("ir", [Entrance("door", "GPIO5", "GPIO6", debounce_s=0.02)], [], factory=factory)
    events = Events()
    unit.start(events)
    walker = Walker(factory, "GPIO5", "GPIO6")
    try:
        walker.walk("out", step=0.05)
        walker.walk("in", step=0.05)
        assert events.q.get(timeout=5)[1]["direction"] == "out"
        assert events.q.get(timeout=5)[1]["direction"] == "in"
    finally:
        unit.stop()


def test_a_pin_that_cannot_be_used_is_reported_offline(factory: MockFactory, clock: Clock) -> None:
    unit = SensorUnit("ir", [Entrance("door", "GPIO99", "GPIO6")], [], factory=factory, poll_interval=None)
    unit.start(Events())
    health = unit.health()
    assert health.state == "offline" and "GPIO99" in health.detail
    unit.stop()


PLAN = LightPlan(
    paths={"1": ("seg1", "seg2", "seg3"), "2": ("seg1", "seg4")},
    lamps={"1": "lamp1", "2": "lamp2"},
    step_s=0.5,
    on_s=4.0,
    blink_s=1.0,
    brightness=0.5,
)
PINS = {"seg1": "GPIO17", "seg2": "GPIO18", "seg3": "GPIO27", "seg4": "GPIO22", "lamp1": "GPIO23", "lamp2": "GPIO24"}


def states(factory: MockFactory, pin: str) -> list[float]:
    return [s.state for s in factory.pin(pin).states]


def test_called_counter_path_chases_and_lamp_blinks(factory: MockFactory, clock: Clock) -> None:
    lights = LightsUnit("lights", PLAN, PINS, factory=factory, clock=clock, poll_interval=None)
    lights.start(Events())
    lights.on_event({"topic": "ticket.called", "data": {"number": "A001", "counter": "1"}})
    seen = []
    for _ in range(10):
        seen.append({n: lights.leds[n].value for n in ("seg1", "seg2", "seg3", "lamp1")})
        clock.advance(0.5)
        lights.poll()
    assert [s["seg1"] for s in seen] == [0.5] * 8 + [0, 0]
    assert [s["seg2"] for s in seen] == [0] + [0.5] * 7 + [0, 0]
    assert [s["seg3"] for s in seen] == [0, 0] + [0.5] * 6 + [0, 0]
    assert [s["lamp1"] for s in seen] == [1, 1, 0, 0, 1, 1, 0, 0, 0, 0]
    # The pins saw exactly these transitions (initial 0, on, off), lamp blinking twice.
    assert states(factory, "GPIO17") == [0, 0.5, 0]
    assert states(factory, "GPIO23") == [0, 1, 0, 1, 0]
    assert states(factory, "GPIO22") == [0]  # counter 2's segment never lit
    lights.stop()


def test_concurrent_calls_share_the_floor(factory: MockFactory, clock: Clock) -> None:
    lights = LightsUnit("lights", PLAN, PINS, factory=factory, clock=clock, poll_interval=None)
    lights.start(Events())
    lights.on_event({"topic": "ticket.called", "data": {"counter": "1"}})
    clock.advance(3.0)
    lights.on_event({"topic": "ticket.called", "data": {"counter": "2"}})
    clock.advance(1.5)  # call 1 has ended; call 2 still holds the shared first segment
    lights.poll()
    assert lights.leds["seg1"].value == 0.5 and lights.leds["seg4"].value == 0.5
    assert lights.leds["seg2"].value == 0 and lights.leds["lamp1"].value == 0
    assert states(factory, "GPIO17") == [0, 0.5]  # never switched off in between
    lights.on_event({"topic": "ticket.called", "data": {"counter": "9"}})
    assert lights.health().counters == {"calls": 2, "unknown_counter": 1, "restarts": 0}
    lights.stop()


def test_pure_rules() -> None:
    d = Debounced(0.1)
    d.update(True, 0.0)
    assert d.advance(0.05) is None and d.due() == pytest.approx(0.1)
    assert d.advance(0.1) == (True, 0.0)
    p = Passage()
    assert [p.change(b, s) for b, s in [("inner", True), ("outer", True), ("inner", False), ("outer", False)]] == [
        None,
        None,
        None,
        "out",
    ]
    # Broke both, but came back out the way they came: not counted.
    assert [p.change(b, s) for b, s in [("outer", True), ("inner", True), ("inner", False), ("outer", False)]] == [
        None,
        None,
        None,
        None,
    ]
    assert p.ignored == 1


def test_demo_staff_sit_while_their_counter_is_open(factory: MockFactory, clock: Clock) -> None:
    seats = SeatSimulator(factory, {"1": "GPIO13"})
    seats.set("1", True)  # the demo starts with staff seated
    unit, events = sensors(factory, clock)
    unit.poll()
    assert events.items == [("seat.presence", {"counter": "1", "present": True, "source": "ir"}, False)]
    seats.on_event({"topic": "counter.paused", "data": {"id": "1", "state": "paused"}})
    clock.advance(2.5)
    unit.poll()
    assert events.items[-1] == ("seat.presence", {"counter": "1", "present": False, "source": "ir"}, True)
    seats.on_event({"topic": "counter.resumed", "data": {"id": "1", "state": "open"}})
    clock.advance(2.5)
    unit.poll()
    assert events.items[-1] == ("seat.presence", {"counter": "1", "present": True, "source": "ir"}, True)
    unit.stop()
