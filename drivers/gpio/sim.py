"""Simulated people for gpiozero's mock pins: walkers through the entrance beam pair, staff at their seats.

Used by the demo (``HALL_DEMO=1``): the beams are ``MockFactory`` pins, and a
walker drives them the way a body crossing two beams does::

    from gpiozero.pins.mock import MockFactory, MockPWMPin
    factory = MockFactory(pin_class=MockPWMPin)
    walker = Walker(factory, "GPIO5", "GPIO6")
    walker.walk("in", step=0.2)   # outer breaks, inner breaks, outer clears, inner clears
"""

from __future__ import annotations

import random
import threading
from typing import Any, Literal


class Walker:
    def __init__(self, factory: Any, outer_pin: str, inner_pin: str, *, broken_high: bool = True) -> None:
        self.outer = factory.pin(outer_pin)
        self.inner = factory.pin(inner_pin)
        self.broken_high = broken_high
        self.stop_event = threading.Event()

    def _set(self, pin: Any, broken: bool) -> None:
        if broken == self.broken_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def walk(self, direction: Literal["in", "out"], step: float = 0.2) -> None:
        """One person crossing; ``step`` seconds between the four edges."""
        first, second = (self.outer, self.inner) if direction == "in" else (self.inner, self.outer)
        for pin, broken in ((first, True), (second, True), (first, False), (second, False)):
            self._set(pin, broken)
            if self.stop_event.wait(step):
                self._set(first, False)
                self._set(second, False)
                return

    def run(self, rng: random.Random, mean_gap: float = 20.0, in_share: float = 0.55) -> None:
        """Walk people in and out at random until :meth:`stop`."""
        while not self.stop_event.wait(rng.expovariate(1.0 / mean_gap)):
            self.walk("in" if rng.random() < in_share else "out", step=rng.uniform(0.1, 0.4))

    def stop(self) -> None:
        self.stop_event.set()


class SeatSimulator:
    """Staff sit down when their counter opens or resumes and get up when it pauses or closes.

    An event consumer for the demo: it drives the seat sensors' mock pins from counter events.
    """

    topics: tuple[str, ...] = ("counter.opened", "counter.resumed", "counter.paused", "counter.closed")

    def __init__(self, factory: Any, seat_pins: dict[str, str], *, present_high: bool = True) -> None:
        self.pins = {counter: factory.pin(pin) for counter, pin in seat_pins.items()}
        self.present_high = present_high

    def set(self, counter: str, present: bool) -> None:
        pin = self.pins.get(counter)
        if pin is None:
            return
        if present == self.present_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def on_event(self, env: dict[str, Any]) -> None:
        counter = str((env.get("data") or {}).get("counter") or (env.get("data") or {}).get("id") or "")
        self.set(counter, env.get("topic") in ("counter.opened", "counter.resumed"))


class PinNoise:
    """Input pins driven wildly, as by a loose connector or a flickering beam: the demo's remote control.

    ``set_state(wild_s=5.0)`` toggles every pin at random (1–50 ms apart) for five seconds on a
    thread of its own, then leaves each pin at the level it had before; a new call extends the noise.
    """

    def __init__(self, factory: Any, pins: list[str], *, seed: int | None = None) -> None:
        self.pins = [factory.pin(p) for p in pins]
        self.rng = random.Random(seed)
        self.until = 0.0
        self.toggles = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def set_state(self, *, wild_s: float | None = None) -> None:
        if not wild_s:
            return
        import time

        with self._lock:
            self.until = max(self.until, time.monotonic() + wild_s)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pin-noise", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        import time

        before = [p.state for p in self.pins]
        tick = threading.Event()
        while time.monotonic() < self.until:
            pin = self.rng.choice(self.pins)
            if pin.state:
                pin.drive_low()
            else:
                pin.drive_high()
            self.toggles += 1
            tick.wait(self.rng.uniform(0.001, 0.05))
        for pin, level in zip(self.pins, before, strict=True):
            if level:
                pin.drive_high()
            else:
                pin.drive_low()
