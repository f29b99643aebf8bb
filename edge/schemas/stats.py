"""Day aggregates for the staff panel's dashboard and the daily report (read-only)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StatsDay(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    day: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Business day; today if absent.")
    waits: bool = Field(False, description="Include every wait in seconds (for a distribution plot).")


REQUESTS: dict[str, type[BaseModel]] = {"stats.day": StatsDay}
READS = frozenset({"stats.day"})
EVENTS: frozenset[str] = frozenset()
