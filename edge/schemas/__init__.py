"""Message schemas, one module per area; every process imports them from here.

Each area module (``queue``, ``bus``, …) defines pydantic models for the
``data`` of its requests, a ``REQUESTS`` table (topic → model), ``READS`` (the
topics that change nothing) and ``EVENTS`` (the event topics it emits).
Unknown fields are errors everywhere.
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edge.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: dict[str, Any], topic: str = "") -> M:
    """Validate a request's data; raise :class:`InvalidRequest` naming each bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "data"
            msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            parts.append(f"{field}: {msg}")
        raise InvalidRequest(f"{topic or model.__name__}: " + "; ".join(parts)) from exc
