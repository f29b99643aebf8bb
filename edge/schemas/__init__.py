"""Message schemas, one module per area; every process imports them from here.

Each area module (``queue``, ``bus``, …) defines pydantic models for the
``data`` of its requests, a ``REQUESTS`` table (topic → model), ``READS`` (the
topics that change nothing) and ``EVENTS`` (the event topics it emits).
Unknown fields are errors everywhere.
"""

from datetime import date
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, StringConstraints, ValidationError

from edge.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def _calendar_day(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a date of the calendar") from None
    return value


# A day as YYYY-MM-DD that exists on the calendar (not 2026-02-30).
DayText = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_calendar_day)]


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
