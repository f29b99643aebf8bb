"""A queue engine on an in-memory database with a clock the test moves."""

from __future__ import annotations

from typing import Any

from edge import config
from edge.queue.engine import Queue
from edge.storage import Database

# 2026-03-02 10:00 in Shanghai (a Monday)
T0 = 1_772_416_800.0


class Hall:
    def __init__(self, toml: str = "", now: float = T0) -> None:
        self.now = now
        self.cfg = config.load_text(toml, "test.toml")
        self.db = Database(":memory:")
        self.q = Queue(self.db, self.cfg, clock=lambda: self.now)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.q, name)

        def atomic(*args: Any, **kwargs: Any) -> Any:
            with self.db.atomic():
                return method(*args, **kwargs)

        return atomic

    def tick(self, minutes: float) -> None:
        self.now += minutes * 60

    def numbers(self, state: str = "issued") -> list[str]:
        return [t["number"] for t in self.list_tickets({"state": state})]

    def serve_all(self, counter: str) -> list[str]:
        """Call and finish at ``counter`` until nobody waits; the order called."""
        from edge.errors import NotFound

        order = []
        while True:
            try:
                order.append(self.call({"counter": counter})["number"])
            except NotFound:
                return order
            self.finish({"counter": counter})
