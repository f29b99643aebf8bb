"""A queue engine on an in-memory database with a clock the test moves."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from pydantic import BaseModel

from edge import config
from edge.queue.engine import Queue
from edge.schemas import parse
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
        """The engine's method in a transaction of its own; a dict argument is validated by the method's model."""
        method = getattr(self.q, name)

        def atomic(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], dict):
                args = (parse(_model_of(method), args[0], name), *args[1:])
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


def _model_of(method: Any) -> type[BaseModel]:
    """The request model an engine method is annotated to take (its first parameter)."""
    first = next(iter(inspect.signature(method).parameters))
    hint = typing.get_type_hints(method)[first]
    for t in typing.get_args(hint) or (hint,):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    raise TypeError(f"{method.__name__} takes no request model")
