"""Operations: history import and export, counts for forecasts, saved plans, seats and occupancy.

An import arrives in chunks and is seen whole: ``history.stage`` keeps each
chunk's rows (checked again here, a bad one named by its line) under the
import's id; ``history.commit`` checks the count, then moves up to ``slice``
rows into ``history`` per request (so the queue is never held long) and answers
how many remain; the importer repeats it until none remain, and the request
that moves the last rows marks the import done, which is when its rows start to
count. ``history.abort`` drops an import that is not done. An import left
unfinished is dropped after a day. Events: ``history.imported``,
``plan.saved``, and ``points.daily`` (each closed day's seat figures and points,
for HQ).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DAY = r"^\d{4}-\d{2}-\d{2}$"
IMPORT_ID = r"^[A-Za-z0-9_-]{8,64}$"
MAX_CHUNK = 5000


class _Req(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitRow(_Req):
    line: int = Field(ge=1, description="Line of the CSV file the row came from.")
    key: str = Field(
        pattern=r"^[0-9a-f]{32}:\d{1,9}$",
        description="The row's digest and how many identical rows came before it in the file (edge.ops.history.keys).",
    )
    business: str = Field(pattern=r"^[A-Z]$")
    issued_at: float = Field(ge=0, description="Epoch seconds.")
    called_at: float | None = Field(None, ge=0)
    finished_at: float | None = Field(None, ge=0)
    counter: str | None = Field(None, max_length=64)
    staff: str | None = Field(None, max_length=64)
    rating: int | None = Field(None, ge=1, le=5)


class HistoryStage(_Req):
    import_id: str = Field(pattern=IMPORT_ID, description="Chosen by the importer; the same for every chunk.")
    rows: list[VisitRow] = Field(min_length=1, max_length=MAX_CHUNK)


class HistoryCommit(_Req):
    import_id: str = Field(pattern=IMPORT_ID)
    rows: int = Field(ge=1, description="How many rows the importer staged; a mismatch commits nothing.")
    file: str = Field("", max_length=200, description="The file's name, for the record.")
    slice: int = Field(2000, ge=1, le=50_000, description="Most rows moved by this request.")


class HistoryAbort(_Req):
    import_id: str = Field(pattern=IMPORT_ID)


class HistorySummary(_Req):
    pass


class HistoryVisits(_Req):
    first: str = Field(pattern=DAY, description="First business day.")
    last: str = Field(pattern=DAY, description="Last business day (at most 62 days after the first).")


class HistoryCounts(_Req):
    before: str = Field(pattern=DAY, description="Only business days strictly before this one.")
    weeks: int = Field(12, ge=1, le=104)
    slot_minutes: Literal[10, 15, 20, 30, 60] = 30
    day: str | None = Field(None, pattern=DAY, description="Also this day's arrivals so far (forecast vs actual).")


class PlanSave(_Req):
    kind: Literal["day", "roster"] = Field(description="A day's forecast and staffing plan, or a week's roster.")
    key: str = Field(pattern=DAY, description="The business day, or the roster week's Monday.")
    basis: str = Field(max_length=200, description="What it was computed from (history and config fingerprint).")
    data: dict[str, Any]


class PlanGet(_Req):
    kind: Literal["day", "roster"]
    key: str = Field(pattern=DAY)


class SeatsDay(_Req):
    day: str | None = Field(None, pattern=DAY, description="Business day; today if absent.")
    staff: str | None = Field(None, max_length=64, description="Only this staff member's row (a staff's own view).")


class Occupancy(_Req):
    pass


class RosterStaff(_Req):
    pass


class RosterGet(_Req):
    week: str = Field(pattern=DAY, description="The week's Monday.")


REQUESTS: dict[str, type[BaseModel]] = {
    "history.stage": HistoryStage,
    "history.commit": HistoryCommit,
    "history.abort": HistoryAbort,
    "history.summary": HistorySummary,
    "history.visits": HistoryVisits,
    "history.counts": HistoryCounts,
    "plan.save": PlanSave,
    "plan.get": PlanGet,
    "seats.day": SeatsDay,
    "occupancy.get": Occupancy,
    "roster.staff": RosterStaff,
    "roster.get": RosterGet,
}
READS = frozenset(
    {
        "history.summary",
        "history.visits",
        "history.counts",
        "plan.get",
        "seats.day",
        "occupancy.get",
        "roster.staff",
        "roster.get",
    }
)
EVENTS = frozenset({"history.imported", "plan.saved", "points.daily"})
