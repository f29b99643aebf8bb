"""Message schemas, one module per area; every process imports them from here.

A request's ``data`` is validated by the model registered for its topic in
:data:`REQUESTS`; unknown fields are errors. Event topics are listed per area
so that subscribers and HQ know what can arrive.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from edge.errors import InvalidRequest
from edge.schemas import bus, queue

REQUESTS: dict[str, type[BaseModel]] = {**queue.REQUESTS, **bus.REQUESTS}
EVENTS: frozenset[str] = queue.EVENTS | bus.EVENTS


def validate(topic: str, data: dict[str, Any]) -> BaseModel:
    """Validate a request's data; raise :class:`InvalidRequest` naming the field."""
    model = REQUESTS.get(topic)
    if model is None:
        raise InvalidRequest(f"unknown request topic {topic!r}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "data"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            parts.append(f"{field}: {msg}")
        raise InvalidRequest(f"{topic}: " + "; ".join(parts)) from exc
