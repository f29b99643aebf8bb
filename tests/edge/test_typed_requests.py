"""Requests are validated once, at the hub; handlers get the typed request, and a mismatch is refused at start."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from edge import config, envelope
from edge.core.service import Core
from edge.paths import Home
from edge.schemas import queue as queue_schema


def test_a_handler_typed_for_another_model_is_refused_at_start(hall_home: Home) -> None:
    core = Core(hall_home, config.load())
    try:
        schema = SimpleNamespace(REQUESTS={"probe.echo": queue_schema.CounterRef}, READS=frozenset())

        def wrong(req: queue_schema.TicketIssue, env: envelope.Envelope) -> Any:
            return req.business

        def right(req: queue_schema.CounterRef, env: envelope.Envelope) -> Any:
            return req.counter

        with pytest.raises(TypeError, match=r"handler of probe\.echo takes .*TicketIssue.*model is CounterRef"):
            core.route("probe.echo", wrong, schema)  # type: ignore[arg-type]
        core.route("probe.echo", right, schema)  # type: ignore[arg-type]
        assert core.hub.routes["probe.echo"].model is queue_schema.CounterRef
    finally:
        core.close()
