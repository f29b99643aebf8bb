"""Alerts: rules with thresholds, raised and cleared by the core, acknowledged by staff.

The core evaluates the rules every tick and when a watched fact arrives. An
alert is raised once per condition (its ``key``, e.g. ``longest_wait:A``) and
cleared when the condition ends; a one-shot alert (a low rating) is cleared
when it is acknowledged. Events: ``alert.raised``, ``alert.cleared``,
``alert.acknowledged`` and ``alert.rules_changed``, all in the log.

Facts the core watches as other services publish them (``event.publish``):

- ``device.health`` (:class:`edge.schemas.devices.DeviceHealth`): ``offline``, or a ``fault`` other
  than paper, raises ``device_offline``; a printer out of paper says ``paper_out`` in ``detail``.
- ``seat.presence`` ``{"counter", "present": bool}``.
- ``emotion.*`` ``{"positive", "neutral", "negative"}`` (shares or counts), optional ``"zone"``.
- ``heatmap.*`` (the latest; a ``path`` names a PNG under HALL_HOME, else the vision service's
  ``$HALL_HOME/vision/heatmap.png`` is shown); ``sync.status`` ``{"backlog", "last_ack", …}``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.schemas import DayText


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(_Req):
    enabled: bool = Field(True, title="Enabled", description="Whether this rule raises alerts.")
    threshold: float = Field(
        ge=0, le=100_000, title="Threshold", description="Value above which (or at or below which) it fires."
    )


class Rules(_Req):
    """Every rule with its threshold; managers edit them in the panel."""

    longest_wait: Rule = Field(
        default=Rule(threshold=20),
        title="Longest wait (minutes)",
        description="A business's longest waiting ticket has waited more than this many minutes.",
    )
    waiting_per_counter: Rule = Field(
        default=Rule(threshold=8),
        title="Waiting per open counter",
        description="People waiting divided by open counters is above this.",
    )
    unattended: Rule = Field(
        default=Rule(threshold=2),
        title="Counter unattended (minutes)",
        description="An open counter's seat has been empty this many minutes while its queue is not empty.",
    )
    device_offline: Rule = Field(
        default=Rule(threshold=0),
        title="Device offline",
        description="A device reports itself offline (threshold unused).",
    )
    printer_paper: Rule = Field(
        default=Rule(threshold=0),
        title="Printer out of paper",
        description="A printer reports paper out (threshold unused).",
    )
    negative_emotion: Rule = Field(
        default=Rule(threshold=0.3),
        title="Negative-emotion share",
        description="The share of negative expressions in a zone is above this (0-1).",
    )
    low_rating: Rule = Field(
        default=Rule(threshold=2),
        title="Low rating",
        description="A customer rated the service this many stars or fewer.",
    )
    ahead_of_plan: Rule = Field(
        default=Rule(threshold=30),
        title="Ahead of plan (%)",
        description="A business's arrivals over the last slot run this many percent above the day's plan"
        " and its open counters are fewer than they need.",
    )
    occupancy_disagreement: Rule = Field(
        default=Rule(threshold=3),
        title="People count disagreement",
        description="A source of the people in the hall (IR beams, cameras, queue) lies this many standard errors"
        " from the others.",
    )


class RulesGet(_Req):
    pass


class RulesSet(_Req):
    rules: Rules
    by: str = Field(min_length=1, max_length=32, description="Who changed them (panel user).")


class AlertList(_Req):
    state: Literal["active", "all"] = "active"
    day: DayText | None = Field(None, description="Raised on this local day.")
    limit: int = Field(200, ge=1, le=2000)


class AlertAcknowledge(_Req):
    id: int = Field(ge=1)
    by: str = Field(min_length=1, max_length=32)
    note: str = Field("", max_length=120)


class FactsGet(_Req):
    pass


REQUESTS: dict[str, type[BaseModel]] = {
    "alert.rules.get": RulesGet,
    "alert.rules.set": RulesSet,
    "alert.list": AlertList,
    "alert.acknowledge": AlertAcknowledge,
    "hall.facts": FactsGet,
}
READS = frozenset({"alert.rules.get", "alert.list", "hall.facts"})
EVENTS = frozenset({"alert.raised", "alert.cleared", "alert.acknowledged", "alert.rules_changed"})
