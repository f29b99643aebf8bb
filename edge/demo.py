"""``hall simulate``: simulated customers and staff so the demo hall visibly lives.

Customers arrive at random (more for bill payment than for new connections),
some with priority; staff open their counters, call, serve and finish, now and
then recall or mark a no-show; customers rate most services. Times run
``--speed`` times faster than real minutes. It is an ordinary bus client: it
survives a core restart by retrying.
"""

from __future__ import annotations

import argparse
import random
import signal
import threading
import time
from dataclasses import dataclass

from edge.bus import BusClient
from edge.errors import BusError, Conflict, HallError, NotFound

ARRIVAL_WEIGHTS = {"A": 5, "B": 1, "C": 2, "D": 3}
STAFF = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊"]


@dataclass
class Desk:
    id: str
    state: str = "idle"  # idle → called → serving → idle
    until: float = 0.0


class Simulation:
    def __init__(self, bus: BusClient, speed: float, rng: random.Random) -> None:
        self.bus = bus
        self.speed = speed
        self.rng = rng
        self.desks: list[Desk] = []
        self.next_arrival = 0.0

    def minutes(self, m: float) -> float:
        return m * 60.0 / self.speed

    def setup(self) -> None:
        counters = self.bus.request("counter.list")
        for i, c in enumerate(counters):
            if c["state"] == "closed":
                self.bus.request("counter.open", {"counter": c["id"], "staff": STAFF[i % len(STAFF)]})
            elif c["state"] == "paused":
                self.bus.request("counter.resume", {"counter": c["id"]})
            desk = Desk(c["id"])
            if c["current"]:
                desk.state, desk.until = "serving", time.monotonic() + self.minutes(2)
            self.desks.append(desk)

    def step(self, now: float) -> None:
        if now >= self.next_arrival:
            self.arrive()
            self.next_arrival = now + self.rng.expovariate(1.0 / self.minutes(1.2))
        for desk in self.desks:
            if now < desk.until:
                continue
            if desk.state == "idle":
                try:
                    self.bus.request("counter.call", {"counter": desk.id})
                    desk.state, desk.until = "called", now + self.minutes(0.5)
                except NotFound:
                    desk.until = now + self.minutes(0.5)
            elif desk.state == "called":
                if self.rng.random() < 0.05:
                    self.bus.request("counter.noshow", {"counter": desk.id})
                    desk.state = "idle"
                elif self.rng.random() < 0.1:
                    self.bus.request("counter.recall", {"counter": desk.id})
                    desk.until = now + self.minutes(0.5)
                else:
                    self.bus.request("counter.serve", {"counter": desk.id})
                    desk.state, desk.until = "serving", now + self.minutes(self.rng.uniform(2, 9))
            elif desk.state == "serving":
                done = self.bus.request("counter.finish", {"counter": desk.id})
                desk.state, desk.until = "idle", now + self.minutes(0.3)
                if done["state"] == "done" and self.rng.random() < 0.7:
                    score = self.rng.choices([5, 4, 3, 2, 1], [60, 25, 8, 4, 3])[0]
                    self.bus.request("ticket.evaluate", {"number": done["number"], "score": score})

    def arrive(self) -> None:
        codes = list(ARRIVAL_WEIGHTS)
        business = self.rng.choices(codes, [ARRIVAL_WEIGHTS[c] for c in codes])[0]
        priority = "green" if self.rng.random() < 0.1 and business != "D" else "normal"
        self.bus.request("ticket.issue", {"business": business, "priority": priority, "channel": "demo"})


def simulate_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hall simulate", description="Simulated customers and staff for the demo.")
    p.add_argument("--speed", type=float, default=20.0, help="simulated minutes per real minute")
    p.add_argument("--seed", type=int, help="random seed (default: time)")
    a = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with BusClient("simulator", timeout=2.0, retries=1) as bus:
        sim = Simulation(bus, a.speed, random.Random(a.seed))
        while not stop.is_set():
            try:
                if not sim.desks:
                    sim.setup()
                sim.step(time.monotonic())
            except Conflict:
                sim.desks = []  # someone else acted at a counter: look again
            except (BusError, HallError) as exc:
                print(f"hall simulate: {exc}; retrying", flush=True)
                stop.wait(1.0)
            stop.wait(0.1)
    return 0
