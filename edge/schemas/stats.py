"""Day aggregates for the staff panel's dashboard and the daily report (read-only)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edge.schemas import DayText


class StatsDay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: DayText | None = Field(None, description="Business day; today if absent.")
    waits: bool = Field(False, description="Include every wait in seconds (for a distribution plot).")


REQUESTS: dict[str, type[BaseModel]] = {"stats.day": StatsDay}
READS = frozenset({"stats.day"})
EVENTS: frozenset[str] = frozenset()
