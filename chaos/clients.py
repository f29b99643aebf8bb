"""The harness's own clients of the hall: customers taking tickets, and a remote control for devices.

:class:`TicketTakers` take tickets at the kiosk's channel the whole run and keep every ticket they
were told about (:class:`~chaos.check.Acked`): a request that got no answer is sent again with the
same id, as the kiosk does, until it is answered or a minute has passed. :class:`DeviceControl`
sends ``device.simulate`` and waits for the devices service's ``device.simulated`` answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chaos.check import OK_STATES, Acked
from edge import envelope
from edge.bus import BusClient, Endpoints, Subscriber
from edge.errors import BusError, BusTimeout, DiskFull, HallError
from edge.paths import Home

RETRY_FOR_S = 60.0


class TicketTakers:
    def __init__(self, home: Home, seed: int, *, takers: int = 2, mean_gap_s: float = 3.0) -> None:
        self.home = home
        self.seed = seed
        self.takers = takers
        self.mean_gap_s = mean_gap_s
        self.acked: list[Acked] = []
        self.answered: list[tuple[float, float]] = []  # (monotonic time, seconds the ticket took) per ticket
        self.outcomes: Counter[str] = Counter()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for n in range(self.takers):
            t = threading.Thread(target=self._run, args=(n,), name=f"taker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def finish(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(RETRY_FOR_S + 10)

    def take(self, bus: BusClient, business: str, *, patience_s: float = RETRY_FOR_S) -> dict[str, Any] | None:
        """One ticket, retried with the same request id while the core does not answer; None if refused."""
        request_id = envelope.new_id()
        asked = time.monotonic()
        deadline = asked + patience_s
        while True:
            try:
                ticket: dict[str, Any] = bus.request(
                    "ticket.issue", {"business": business, "channel": "kiosk"}, request_id=request_id
                )
            except BusTimeout:
                if time.monotonic() > deadline:
                    self._count("no answer")
                    return None
                continue
            except DiskFull:
                self._count("refused: disk full")
                return None
            except BusError:
                self._count("bus error")
                return None
            except HallError as exc:
                self._count(f"refused: {exc.code}")
                return None
            with self._lock:
                self.acked.append(Acked(str(ticket["id"]), str(ticket["number"])))
                now = time.monotonic()
                self.answered.append((now, now - asked))
            self._count("acknowledged")
            return ticket

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.outcomes[outcome] += 1

    def _run(self, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        with BusClient(f"chaos-taker{n}", endpoints=Endpoints.local(self.home), timeout=1.0, retries=0) as bus:
            while not self.stop.wait(rng.expovariate(1.0 / self.mean_gap_s)):
                self.take(bus, rng.choice("ABCD"))


class DeviceControl:
    """``device.simulate`` with an answer: each change is sent again until ``device.simulated`` names it."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.answered: dict[str, datetime] = {}
        self.states: dict[str, str] = {}  # each device's last reported state, from device.health
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self._sub = Subscriber(["device.simulated", "device.health"], endpoints=Endpoints.local(home))
        self._thread = threading.Thread(target=self._listen, name="device-answers", daemon=True)
        self._thread.start()
        self._n = 0

    def _listen(self) -> None:
        while not self.stop.is_set():
            env = self._sub.recv(timeout=0.2)
            data = (env or {}).get("data", {})
            if env is not None and env.get("topic") == "device.health" and isinstance(data, dict):
                with self.cond:
                    self.states[str(data.get("device"))] = str(data.get("state"))
                    self.cond.notify_all()
                continue
            ref = data.get("ref")
            if isinstance(ref, str):
                with self.cond:
                    self.answered[ref] = datetime.now(UTC)
                    self.cond.notify_all()

    def change(self, device: str, timeout: float = 30.0, **change: Any) -> datetime | None:
        """Ask for ``change``; the time the devices service said it was done, or None after ``timeout``."""
        with self.cond:
            self._n += 1
            ref = f"chaos-{self._n}"
        deadline = time.monotonic() + timeout
        with BusClient("chaos", endpoints=Endpoints.local(self.home), timeout=1.0, retries=0) as bus:
            while time.monotonic() < deadline:
                data = {"device": device, "ref": ref, **change}
                try:
                    bus.request("event.publish", {"topic": "device.simulate", "data": data, "durable": False})
                except HallError:
                    pass  # the core is away: send it again
                with self.cond:
                    if self.cond.wait_for(lambda: ref in self.answered, timeout=2.0):
                        return self.answered[ref]
        return None

    def wait_ok(self, device: str, timeout: float) -> bool:
        """Wait until ``device`` was last reported ok (or never reported otherwise); False after ``timeout``."""
        with self.cond:
            return self.cond.wait_for(lambda: self.states.get(device, "ok") in OK_STATES, timeout=timeout)

    def close(self) -> None:
        self.stop.set()
        self._thread.join(2)
        self._sub.close()
