"""Bus-level requests: health, reading the log, and events other services publish."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.envelope import TOPIC_RE

# Topics only the core may emit: other services ask the core to change state instead.
CORE_PREFIXES = ("ticket.", "counter.", "evaluation.", "appointment.", "customer.", "day.", "alert.")
CORE_TOPICS = frozenset({"bundle.applied", "sync.gap"})


def core_only(topic: str) -> bool:
    """Whether only the core may emit ``topic`` (others ask the core to change state instead)."""
    return topic.startswith(CORE_PREFIXES) or topic in CORE_TOPICS


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ping(_Req):
    pass


class EventsSince(_Req):
    seq: int = Field(0, ge=0)
    limit: int = Field(500, ge=1, le=5000)
    prefix: str = Field("", max_length=64)


class EventPublish(_Req):
    topic: str = Field(pattern=TOPIC_RE.pattern, max_length=64)
    data: dict[str, Any] = Field(default_factory=dict)
    durable: bool = Field(True, description="Append to the log (and so ship to HQ) as well as publish.")


REQUESTS: dict[str, type[BaseModel]] = {
    "hall.ping": Ping,
    "events.since": EventsSince,
    "event.publish": EventPublish,
}
READS = frozenset({"hall.ping", "events.since"})
EVENTS: frozenset[str] = frozenset()
