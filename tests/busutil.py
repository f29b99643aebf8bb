"""Bus helpers for tests: a subscription known to be connected, waiting for an event."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edge.bus import BusClient, Endpoints, Subscriber
from edge.paths import Home


def connected(bus: BusClient, home: Home, prefixes: list[str]) -> Subscriber:
    """A subscriber that has provably joined: it received a probe event published after it connected."""
    sub = Subscriber([*prefixes, "probe."], endpoints=Endpoints.local(home))
    for _ in range(50):
        bus.request("event.publish", {"topic": "probe.sent", "data": {}, "durable": False})
        env = sub.recv(timeout=0.2)
        if env is not None and env["topic"] == "probe.sent":
            return sub
    raise AssertionError("subscription never received a probe")


def wait_event(
    sub: Subscriber, topic: str, match: Callable[[dict[str, Any]], bool] = lambda d: True, timeout: float = 15.0
) -> dict[str, Any]:
    """The first event of ``topic`` whose data matches, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        env = sub.recv(timeout=max(0.05, deadline - time.monotonic()))
        if env is not None and env["topic"] == topic and match(env["data"]):
            return env
    raise AssertionError(f"no {topic} event within {timeout} s")
