"""Bus-level requests: health, reading the log, and events other services publish."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from edge.envelope import TOPIC_RE

# The data of one published event, as UTF-8 JSON: it must fit a batch to HQ whole (HQ takes 32 MiB a batch).
MAX_EVENT_BYTES = 256 * 1024
# Replies that carry events (events.since, sync.batch) stop before their events' data pass this.
REPLY_EVENTS_BYTES = 8 * 1024 * 1024

# Topics only the core may emit: other services ask the core to change state instead.
CORE_PREFIXES = (
    "ticket.",
    "counter.",
    "evaluation.",
    "appointment.",
    "customer.",
    "day.",
    "alert.",
    "form.",
    "record.",
)
CORE_TOPICS = frozenset({"bundle.applied", "sync.gap", "repair.reported", "repair.updated"})


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
    data: dict[str, Any] = Field(
        default_factory=dict, description=f"The event's data, at most {MAX_EVENT_BYTES} bytes as JSON."
    )
    durable: bool = Field(True, description="Append to the log (and so ship to HQ) as well as publish.")


REQUESTS: dict[str, type[BaseModel]] = {
    "hall.ping": Ping,
    "events.since": EventsSince,
    "event.publish": EventPublish,
}
READS = frozenset({"hall.ping", "events.since"})
EVENTS: frozenset[str] = frozenset()
