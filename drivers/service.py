"""``hall devices``: the hall's devices on the bus.

It builds one unit per configured device (``[services.devices]``), starts them,
forwards bus events to the units that act on them (printer on
``ticket.issued``, lights and voice on ``ticket.called``), and publishes what
the units report through the core's ``event.publish``. Each device's health
goes out as ``device.health`` {"device", "state", "detail", "counters"} when it
changes (durable) and every ``health_interval_s`` (not durable).

Publishing goes through an outbox thread that retries while the core is away,
so a core restart loses nothing the devices said. SIGTERM stops every unit.

With ``HALL_DEMO=1`` (``hall demo``) the service starts the simulated peers
itself: an ESC/POS printer on a pty that writes ticket PNGs to
``$HALL_HOME/printer/`` and mock GPIO pins with people walking through the
entrance and staff seated while their counter is open. ``device.simulate``
{"device": "printer", "paper_out": true, …} changes the simulated printer's
paper and cover (demo only).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from drivers import selftest
from drivers.base import Backoff, DeviceUnit, EventConsumer, Health, one_line
from drivers.config import DevicesConfig
from edge.config import HallConfig
from edge.errors import HallError

log = logging.getLogger("hall.devices")
OUTBOX_MAX = 2000
CATCH_UP_S = 2.0
CATCH_UP_MAX_AGE_S = 90.0
SEEN_MAX = 10_000
START_RETRY_FIRST_S = 1.0  # a unit that cannot start is tried again after this, doubling…
START_RETRY_MAX_S = 60.0  # …up to this
LOGGED_PREFIXES = ("ticket.", "repair.")  # the core's events: in the log, so a missed one can be read again


@dataclass
class Context:
    """What unit builders get: the config, where the hall lives, demo mode, and shared resources."""

    hall: HallConfig
    cfg: DevicesConfig
    home: Path
    demo: bool
    pin_factory: Any = None
    simulators: dict[str, Any] = field(default_factory=dict)
    consumers: list[EventConsumer] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)


def printer_units(ctx: Context) -> list[DeviceUnit]:
    from drivers.printer.printer import PrinterUnit
    from drivers.printer.ticket import Layout

    pc = ctx.cfg.printer
    if not pc.enabled:
        return []
    url = pc.url
    if ctx.demo or url.startswith("sim://"):
        from drivers.printer.sim import SimulatedPrinter

        sim = SimulatedPrinter(ctx.home / "printer", paper=pc.paper)
        if url == "sim://tcp":
            url = f"tcp://127.0.0.1:{sim.serve_tcp()}"
        else:  # behind a stable link, so the demo can pull the cable and put it back
            (ctx.home / "printer").mkdir(parents=True, exist_ok=True)
            url = "serial://" + sim.serve_pty(ctx.home / "printer" / "ttyESCPOS")
        ctx.simulators["printer"] = sim
        ctx.closers.append(sim.close)
    layout = Layout(paper=pc.paper, qr_url=pc.qr_url, privacy_note=pc.privacy_note, footer=pc.footer)
    unit = PrinterUnit(
        "printer",
        url,
        layout,
        hall_name=ctx.hall.hall.name,
        timezone=ctx.hall.hall.timezone,
        channels=(*pc.channels, "demo") if ctx.demo else tuple(pc.channels),  # the demo's simulated customers
        status_interval=pc.status_interval_s,
        status=pc.status,
    )
    return [unit]


def gpio_units(ctx: Context) -> list[DeviceUnit]:
    from drivers.gpio.logic import LightPlan
    from drivers.gpio.units import Entrance, LightsUnit, Seat, SensorUnit

    gc = ctx.cfg.gpio
    if not gc.enabled:
        return []
    if ctx.demo or gc.pin_factory == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        ctx.pin_factory = MockFactory(pin_class=MockPWMPin)
    entrances = [Entrance(e.name, e.outer_pin, e.inner_pin, e.debounce_s, e.broken_high) for e in gc.entrances]
    seats = [Seat(s.counter, s.pin, s.hold_s, s.present_high) for s in gc.seats]
    lc = gc.lights
    plan = LightPlan(
        paths={c: tuple(p) for c, p in lc.paths.items()},
        lamps={c: f"lamp:{c}" for c in lc.lamps},
        step_s=lc.step_s,
        on_s=lc.on_s,
        blink_s=lc.blink_s,
        brightness=lc.brightness,
    )
    pins = {**lc.segments, **{f"lamp:{c}": pin for c, pin in lc.lamps.items()}}
    units: list[DeviceUnit] = [
        SensorUnit("ir", entrances, seats, factory=ctx.pin_factory),
        LightsUnit("lights", plan, pins, factory=ctx.pin_factory),
    ]
    if ctx.demo:
        from drivers.gpio.sim import PinNoise, SeatSimulator, Walker

        staff = SeatSimulator(ctx.pin_factory, {s.counter: s.pin for s in gc.seats})
        for s in gc.seats:
            staff.set(s.counter, True)
        ctx.consumers.append(staff)
        for e in gc.entrances:
            walker = Walker(ctx.pin_factory, e.outer_pin, e.inner_pin, broken_high=e.broken_high)
            rng = random.Random()
            threading.Thread(
                target=walker.run, args=(rng, gc.demo_walk_mean_s), name="demo-walker", daemon=True
            ).start()
            ctx.closers.append(walker.stop)
        inputs = [p for e in gc.entrances for p in (e.outer_pin, e.inner_pin)] + [s.pin for s in gc.seats]
        ctx.simulators["ir"] = PinNoise(ctx.pin_factory, inputs)
    return units


def voice_units(ctx: Context) -> list[DeviceUnit]:
    from drivers.voice.tts import EspeakEngine
    from drivers.voice.unit import VoiceUnit

    vc = ctx.cfg.voice
    if not vc.enabled:
        return []
    out = Path(vc.out_dir) if vc.out_dir else ctx.home / "voice"
    engine = EspeakEngine(voice=vc.voice, speed=vc.speed)
    return [VoiceUnit("voice", out, engine=engine, repeat=vc.repeat, pause_s=vc.pause_s, play_command=vc.play_command)]


def card_units(ctx: Context) -> list[DeviceUnit]:
    from drivers.cards import build_card_units

    cfg = ctx.cfg
    return [
        *build_card_units(
            cfg.idcard, cfg.iccard, home=ctx.home, demo=ctx.demo, closers=ctx.closers, simulators=ctx.simulators
        )
    ]


# Each builder turns its part of the config into units; card readers add theirs here.
BUILDERS: list[Callable[[Context], list[DeviceUnit]]] = [printer_units, gpio_units, voice_units, card_units]


def build_units(ctx: Context) -> list[DeviceUnit]:
    units: list[DeviceUnit] = []
    for build in BUILDERS:
        units += build(ctx)
    return units


class Outbox:
    """Publishes through the core's ``event.publish`` on its own thread, retrying while the core is away.

    Durable events are kept in order; when the outbox is full the oldest non-durable event goes first.
    """

    def __init__(self, bus: Any) -> None:
        self.bus = bus
        self.items: deque[tuple[str, dict[str, Any], bool, str]] = deque()  # topic, data, durable, request id
        self.cond = threading.Condition()
        self.stopping = False
        self.sent = 0
        self.dropped = 0
        self.deferred = 0  # sends put off because the core was away or its disk full
        self.thread = threading.Thread(target=self._run, name="outbox", daemon=True)

    def __call__(self, topic: str, data: dict[str, Any], *, durable: bool = True) -> None:
        with self.cond:
            if len(self.items) >= OUTBOX_MAX:
                victim = next((i for i, it in enumerate(self.items) if not it[2]), 0)
                del self.items[victim]
                self.dropped += 1
            self.items.append((topic, data, durable, uuid.uuid4().hex))
            self.cond.notify()

    def _run(self) -> None:
        from edge.errors import BusError, DiskFull, HallError

        backoff = Backoff(0.2, 5.0)
        waiting = False  # said once per outage, not once per try
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.items or self.stopping)
                if not self.items:
                    return
                item = self.items[0]
            topic, data, durable, request_id = item
            try:  # the same request id every try: an answer lost on the way is not a second event
                self.bus.request(
                    "event.publish", {"topic": topic, "data": data, "durable": durable}, request_id=request_id
                )
            except (BusError, DiskFull) as exc:  # the core is away, or has no room yet: keep it, in order
                if isinstance(exc, DiskFull) and not durable:
                    self._drop(item)  # a passing fact: the next one says the same
                    continue
                if not waiting:
                    log.warning("cannot publish %s yet (kept until the core takes it): %s", topic, exc)
                    waiting = True
                self.deferred += 1
                with self.cond:
                    if self.stopping:
                        return
                    self.cond.wait(backoff.next())
                continue
            except HallError as exc:  # refused by the core: retrying would not help
                log.error("core refused %s: %s", topic, exc)
            backoff.reset()
            waiting = False
            with self.cond:
                if self.items and self.items[0] is item:
                    self.items.popleft()
                self.sent += 1

    def _drop(self, item: tuple[str, dict[str, Any], bool, str]) -> None:
        with self.cond:
            if self.items and self.items[0] is item:
                self.items.popleft()
            self.dropped += 1

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Send what is queued (up to ``timeout``), then stop."""
        deadline = time.monotonic() + timeout
        with self.cond:
            self.cond.notify()
        while self.items and time.monotonic() < deadline and self.thread.is_alive():
            time.sleep(0.05)
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        self.thread.join(timeout)


@dataclass
class Unstarted:
    """A unit whose start failed: why (its health detail), how often, and when to try again."""

    backoff: Backoff
    detail: str = ""
    tries: int = 0
    retry_at: float = 0.0


class DevicesService:
    """Units, health reports, and bus events to the units that act on them.

    Events from the hall's log (they carry a ``seq``) reach the units exactly once even when the live
    subscription misses one (a core restart between commit and publish, a reconnect): every
    ``CATCH_UP_S`` the service reads the log after its cursor with ``events.since`` and hands on
    what it has not seen, if it is younger than ``CATCH_UP_MAX_AGE_S`` (a ticket is worth printing
    only while its customer still stands at the kiosk).
    """

    def __init__(self, ctx: Context, units: list[DeviceUnit], publish: Callable[..., None], bus: Any = None) -> None:
        self.ctx = ctx
        self.units = units
        self.publish = publish
        self.bus = bus
        self.stop = threading.Event()
        self.last: dict[str, tuple[str, str]] = {}
        self.consumers: list[EventConsumer] = [u for u in units if hasattr(u, "on_event")]  # type: ignore[misc]
        self.consumers += ctx.consumers
        self.cursor: dict[str, int] = {}
        self.seen: set[int] = set()
        self.unstarted: dict[str, Unstarted] = {}  # units whose start failed, tried again with backoff

    def start_cursors(self) -> None:
        """Catch up only on what happens from now on (asks the core for the log's head)."""
        if self.bus is None:
            return
        head = int(self.bus.request("hall.ping")["seq"])
        self.cursor = {t: head for t in self.topics() if t.startswith(LOGGED_PREFIXES)}

    def catch_up(self) -> None:
        """Hand on logged events the live subscription missed."""
        if self.bus is None or not self.cursor:
            return
        now = time.time()
        for topic, after in list(self.cursor.items()):
            events = self.bus.request("events.since", {"seq": after, "prefix": topic, "limit": 200})
            for env in events:
                self.cursor[topic] = max(self.cursor[topic], env["seq"])
                if env["topic"] != topic or env["seq"] in self.seen:
                    continue
                age = now - datetime.fromisoformat(env["ts"]).timestamp()
                self.seen.add(env["seq"])
                if age <= CATCH_UP_MAX_AGE_S:
                    log.warning("%s %s missed on the bus; handled from the log", topic, env["seq"])
                    self.dispatch(env)
        if len(self.seen) > SEEN_MAX:  # a live copy can arrive after the catch-up: keep a window of seqs
            self.seen = set(sorted(self.seen)[-SEEN_MAX // 2 :])

    def topics(self) -> list[str]:
        topics = [*sorted({t for c in self.consumers for t in c.topics}), selftest.REQUEST_TOPIC]
        return [*topics, "device.simulate"] if self.ctx.demo else topics

    def report(self, every: bool) -> None:
        """Publish ``device.health`` for units whose state changed (durable), or for all (``every``)."""
        for unit in self.units:
            failed = self.unstarted.get(unit.name)
            try:
                health = (
                    unit.health()
                    if failed is None
                    else Health("fault", failed.detail, {"start_failures": failed.tries})
                )
            except Exception as exc:  # a unit's bug must not silence the others' health
                log.exception("health of %s failed", unit.name)
                health = Health("fault", f"health check failed: {exc}")
            key = (health.state, health.detail)
            changed = self.last.get(unit.name) != key
            if changed or every:
                self.last[unit.name] = key
                self.publish("device.health", {"device": unit.name, **health.to_dict()}, durable=changed)

    def receive(self, env: dict[str, Any]) -> None:
        """A live event: handed on unless the catch-up already did."""
        seq = env.get("seq")
        if isinstance(seq, int):
            if seq in self.seen:
                return
            self.seen.add(seq)
        self.dispatch(env)

    def dispatch(self, env: dict[str, Any]) -> None:
        topic = env.get("topic", "")
        if topic == "device.simulate":
            self.simulate(env.get("data") or {})
            return
        if topic == selftest.REQUEST_TOPIC:
            self.self_test(env.get("data") or {})
            return
        for consumer in self.consumers:
            if topic in consumer.topics:
                try:
                    consumer.on_event(env)
                except Exception:  # one device's bug must not stop the others
                    log.exception("%s failed on %s", getattr(consumer, "name", "?"), topic)

    def self_test(self, data: dict[str, Any]) -> None:
        """Test one running unit on a thread of its own; answer ``device.tested`` (see :mod:`drivers.selftest`)."""
        name, request = str(data.get("device", ""))[:64], str(data.get("request", ""))[:64]
        unit = next((u for u in self.units if u.name == name), None)

        def work() -> None:
            if unit is None:
                known = ", ".join(u.name for u in self.units) or "none"
                result: dict[str, Any] = {"ok": False, "detail": f"no device {name!r} runs here (running: {known})"}
            else:
                try:
                    result = selftest.run(unit, request=request)
                except Exception as exc:  # a unit's bug is the test's answer, not the service's end
                    log.exception("self-test of %s failed", name)
                    result = {"ok": False, "detail": f"self-test failed: {exc}"}
            log.info("self-test of %s: %s", name, result["detail"])
            self.publish(selftest.RESULT_TOPIC, {"request": request, "device": name, **result}, durable=False)

        threading.Thread(target=work, name=f"selftest-{name}", daemon=True).start()

    def simulate(self, data: dict[str, Any]) -> None:
        """Change a simulated device (demo only) and say so with ``device.simulated`` (not logged)."""
        device = str(data.get("device", ""))[:32]
        sim = self.ctx.simulators.get(device)
        if sim is None:
            log.warning("device.simulate: no simulated %r", device)
            return
        try:
            change = simulated_change(device, data)
        except ValueError as exc:
            log.warning("device.simulate %s: %s", device, exc)
            return
        sim.set_state(**change)
        log.info("simulated %s: %s", device, change)
        ref = data.get("ref")
        self.publish(
            "device.simulated",
            {"device": device, "change": change, "ref": ref if isinstance(ref, str) else None},
            durable=False,
        )

    def start_units(self) -> None:
        """Start every unit; one that cannot start is reported and tried again, and the others run."""
        for unit in self.units:
            self._start(unit)

    def _start(self, unit: DeviceUnit) -> None:
        try:
            unit.start(self.publish)
        except Exception as exc:  # a corrupt key file, a bug: that device waits, the hall's others work
            failed = self.unstarted.get(unit.name) or Unstarted(Backoff(START_RETRY_FIRST_S, START_RETRY_MAX_S))
            wait = failed.backoff.next()
            failed.tries += 1
            failed.retry_at = time.monotonic() + wait
            reason = str(exc) if isinstance(exc, HallError) else f"{type(exc).__name__}: {exc}"
            failed.detail = one_line(f"cannot start: {reason}")
            log.error("%s cannot start (%s); trying again in %.0f s", unit.name, reason, wait,
                      exc_info=not isinstance(exc, HallError))  # fmt: skip
            self.unstarted[unit.name] = failed
            try:  # whatever it started before failing
                unit.stop()
            except Exception:
                log.exception("stopping %s after its failed start failed", unit.name)
            return
        if self.unstarted.pop(unit.name, None) is not None:
            log.info("%s started", unit.name)

    def retry_starts(self) -> None:
        """Try again the units whose start failed, each when its backoff has passed."""
        now = time.monotonic()
        for unit in self.units:
            failed = self.unstarted.get(unit.name)
            if failed is not None and now >= failed.retry_at:
                self._start(unit)

    def run(self, sub: Any) -> None:
        from edge import sdnotify

        self.start_units()
        sdnotify.ready(f"{len(self.units)} device unit(s) started")
        interval = self.ctx.cfg.health_interval_s
        next_full = time.monotonic() + interval
        next_check = next_catch_up = 0.0
        while not self.stop.is_set():
            sdnotify.alive()
            now = time.monotonic()
            if now >= next_check:
                self.retry_starts()
                self.report(every=now >= next_full)
                if now >= next_full:
                    next_full = now + interval
                next_check = now + 0.5
            if now >= next_catch_up:
                next_catch_up = now + CATCH_UP_S
                try:
                    if not self.cursor:
                        self.start_cursors()
                    else:
                        self.catch_up()
                except HallError as exc:  # the core is away: the live subscription resumes by itself
                    log.debug("catch-up skipped: %s", exc)
            env = sub.recv(timeout=0.2)
            if env is not None:
                self.receive(env)

    def close(self) -> None:
        for unit in self.units:
            try:
                unit.stop()
            except Exception:
                log.exception("stopping %s failed", unit.name)
        for close in self.ctx.closers:
            close()


SIMULATED = {
    "printer": ("paper_out", "paper_near_end", "cover_open", "unplugged"),
    "idcard": ("unplugged",),
    "ir": ("wild_s",),
}


def simulated_change(device: str, data: dict[str, Any]) -> dict[str, Any]:
    """The changes ``device.simulate`` asks of a simulated device: flags as booleans, ``wild_s`` seconds.

    >>> simulated_change("printer", {"device": "printer", "paper_out": 1, "colour": "red"})
    {'paper_out': True}
    >>> simulated_change("ir", {"wild_s": 500})
    Traceback (most recent call last):
    ...
    ValueError: wild_s must be seconds between 0 and 60, not 500
    """
    change: dict[str, Any] = {}
    for key in SIMULATED.get(device, ()):
        if key not in data:
            continue
        value = data[key]
        if key == "wild_s":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
                raise ValueError(f"wild_s must be seconds between 0 and 60, not {value!r}")
            change[key] = float(value)
        else:
            change[key] = bool(value)
    return change


def _subcommand(argv: list[str]) -> str | None:
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--config":
            rest = rest[1:]
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    """``hall devices`` runs the service; ``hall devices list|test|printer …`` are field commands."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from drivers import cli

    if _subcommand(argv) in cli.COMMANDS:
        return cli.cli_main(argv)
    parser = argparse.ArgumentParser(
        prog="hall devices",
        description="Run the hall's devices on the bus. Field commands: hall devices {list,test,printer} --help",
    )
    parser.add_argument("--config", help="hall config file (TOML); default: embedded demo hall")
    args = parser.parse_args(argv)
    from edge.bus import BusClient, Subscriber
    from edge.proc import start

    started = start("hall devices", args.config, "devices", DevicesConfig)
    ctx = Context(started.config, started.settings, started.home.root, demo=os.environ.get("HALL_DEMO") == "1")
    bus = BusClient("devices", timeout=2.0, retries=0)
    outbox = Outbox(bus)
    units = build_units(ctx)
    service = DevicesService(ctx, units, outbox, BusClient("devices", timeout=2.0, retries=0))
    sub = Subscriber(service.topics())  # before any unit starts, so no event after start is missed

    def stop(signum: int, frame: object) -> None:
        service.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    outbox.start()
    log.info("devices: %s%s", ", ".join(u.name for u in units), " (simulated)" if ctx.demo else "")
    try:
        service.run(sub)
    finally:
        service.close()
        service.report(every=False)
        outbox.stop()
        sub.close()
        bus.close()
    return 0
