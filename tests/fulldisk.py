"""A hall on a disk that is full for real, shared by the services' full-disk tests.

:func:`hall_on_a_full_disk` starts a real core on a size-limited tmpfs (the ``small_disk`` fixture),
fills the disk, and issues tickets until the core refuses one (its log's write-ahead file may have had
room left), so whatever is started inside the block meets a core that cannot save: the shape of "a
service started, or at work, while the disk is full". :meth:`FullHall.free` gives the room back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.bus import BusClient, Endpoints, Subscriber
from edge.errors import DiskFull
from edge.paths import Home
from tests.conftest import CoreProcess
from tests.edge.test_disk_and_home import _fill


@dataclass
class FullHall:
    home: Home
    core: CoreProcess
    bus: BusClient
    filler: Path

    def free(self) -> None:
        """Give the disk's room back."""
        self.filler.unlink(missing_ok=True)

    def say(self, topic: str, data: dict[str, Any], timeout: float = 20.0) -> None:
        """Publish an event that needs no room: the core may still refuse it while it commits with others that
        do (their batch fails whole), so it is said again until taken."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.bus.request("event.publish", {"topic": topic, "data": data, "durable": False})
                return
            except DiskFull:
                if time.monotonic() > deadline:
                    raise
                threading.Event().wait(0.2)

    def subscribe(self, prefixes: list[str], timeout: float = 20.0) -> Subscriber:
        """A subscriber known to be connected: it received a probe said after it connected."""
        sub = Subscriber([*prefixes, "probe."], endpoints=Endpoints.local(self.home))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.say("probe.sent", {})
            env = sub.recv(timeout=0.2)
            if env is not None and env["topic"] == "probe.sent":
                return sub
        sub.close()
        raise AssertionError("subscription never received a probe")


@contextmanager
def hall_on_a_full_disk(disk: Path) -> Iterator[FullHall]:
    home = Home(disk / "home").ensure()
    core = CoreProcess(home).start()
    bus = BusClient("test", endpoints=Endpoints.local(home), timeout=5.0, retries=0)
    try:
        filler = _fill(disk)
        for _ in range(2000):
            try:
                bus.request("ticket.issue", {"business": "A"})
            except DiskFull:
                break
        else:
            raise AssertionError("the core never found its disk full")
        yield FullHall(home, core, bus, filler)
    finally:
        bus.close()
        core.stop()
