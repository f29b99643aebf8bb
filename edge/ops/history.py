"""The history CSV a hall brings from its old system, and the one ``hall history export`` writes.

Columns (a header row first, any order): ``business,issued_at,called_at,finished_at,counter,staff,rating``.
Times are ISO 8601 with an offset; the last four cells may be empty. One row is
one customer's visit: ``called_at`` empty means never called (cancelled),
``finished_at`` empty after a call means a no-show::

    >>> text = "business,issued_at,called_at,finished_at,counter,staff,rating\\n" \\
    ...        "A,2026-03-02T09:00:00+08:00,2026-03-02T09:04:00+08:00,2026-03-02T09:07:30+08:00,1,王芳,5\\n"
    >>> rows = parse(text, businesses={"A", "B"})
    >>> rows[0].business, rows[0].handling_s, rows[0].rating, rows[0].line
    ('A', 210.0, 5, 2)

A file is checked whole before anything is stored: every bad row is named by its
line (the first :data:`MAX_REPORTED`), and one bad row refuses the file. Each row
has a key made of its content and how many identical rows came before it in the
file, so importing the same file twice adds nothing, while two customers with
identical rows stay two rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from edge.errors import InvalidRequest

COLUMNS = ("business", "issued_at", "called_at", "finished_at", "counter", "staff", "rating")
MAX_REPORTED = 20
MAX_FIELD = 64


class HistoryError(InvalidRequest):
    """A history file that cannot be imported; ``problems`` are ``(line, message)`` pairs."""

    def __init__(self, problems: list[tuple[int, str]], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        shown = "\n".join(f"line {line}: {msg}" for line, msg in problems)
        more = self.total - len(problems)
        tail = f"\n… and {more} more bad row(s)" if more > 0 else ""
        super().__init__(f"{self.total} bad row(s), nothing imported:\n{shown}{tail}")


@dataclass(frozen=True)
class Visit:
    business: str
    issued_at: float
    called_at: float | None = None
    finished_at: float | None = None
    counter: str | None = None
    staff: str | None = None
    rating: int | None = None
    line: int = 0

    @property
    def handling_s(self) -> float | None:
        if self.called_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.called_at

    def digest(self) -> str:
        """The content's fingerprint (times to the millisecond, as UTC instants)."""
        parts = [
            self.business,
            *(f"{t:.3f}" if t is not None else "" for t in (self.issued_at, self.called_at, self.finished_at)),
            self.counter or "",
            self.staff or "",
            str(self.rating or ""),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, object]:
        return {
            "business": self.business,
            "issued_at": self.issued_at,
            "called_at": self.called_at,
            "finished_at": self.finished_at,
            "counter": self.counter,
            "staff": self.staff,
            "rating": self.rating,
            "line": self.line,
        }


def keys(visits: Iterable[Visit]) -> list[str]:
    """Each visit's key: its digest and how many identical visits came before it (``digest:n``)."""
    seen: Counter[str] = Counter()
    out = []
    for v in visits:
        d = v.digest()
        out.append(f"{d}:{seen[d]}")
        seen[d] += 1
    return out


def send(
    request: Callable[[str, dict[str, Any]], Any],
    visits: list[Visit],
    *,
    import_id: str,
    file: str = "",
    chunk: int = 1000,
) -> dict[str, Any]:
    """Import ``visits`` through the core: stage them in chunks, then commit slice by slice until done.

    ``request`` is a bus client's ``request``. On any failure the import is dropped (``history.abort``)
    and the error raised again; nothing of it counts as history.
    """
    rows = [{**v.to_json(), "key": k} for v, k in zip(visits, keys(visits), strict=True)]
    try:
        for i in range(0, len(rows), chunk):
            request("history.stage", {"import_id": import_id, "rows": rows[i : i + chunk]})
        while True:
            out: dict[str, Any] = request("history.commit", {"import_id": import_id, "rows": len(rows), "file": file})
            if out["state"] == "done":
                return out
    except BaseException:
        try:
            request("history.abort", {"import_id": import_id})
        except Exception:  # the core drops an unfinished import after a day anyway
            pass
        raise


def visit(row: dict[str, Any]) -> Visit:
    """A visit from its JSON form (as :meth:`Visit.to_json` gives it)."""
    return Visit(
        row["business"],
        row["issued_at"],
        row.get("called_at"),
        row.get("finished_at"),
        row.get("counter"),
        row.get("staff"),
        row.get("rating"),
        row.get("line", 0),
    )


def _time(cell: str, column: str, now: float | None) -> float:
    try:
        at = datetime.fromisoformat(cell)
    except ValueError:
        raise ValueError(f"{column} {cell!r} is not an ISO 8601 time such as 2026-03-02T09:00:00+08:00") from None
    if at.tzinfo is None:
        raise ValueError(f"{column} {cell!r} has no offset; write it as {cell}+08:00")
    ts = at.timestamp()
    if ts < 0:
        raise ValueError(f"{column} {cell} is before 1970")
    if now is not None and ts > now + 60:
        raise ValueError(f"{column} {cell} is in the future")
    return ts


def check_row(cells: dict[str, str], line: int, businesses: set[str], now: float | None = None) -> Visit:
    """One row's cells as a :class:`Visit`; raise ValueError naming what is wrong."""
    business = cells["business"].strip()
    if business not in businesses:
        known = ", ".join(sorted(businesses))
        raise ValueError(f"business {business!r} is not one of this hall's ({known})")
    issued = _time(cells["issued_at"].strip(), "issued_at", now)
    called = _time(c, "called_at", now) if (c := cells["called_at"].strip()) else None
    finished = _time(f, "finished_at", now) if (f := cells["finished_at"].strip()) else None
    rating = None
    if r := cells["rating"].strip():
        if r not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"rating {r!r} is not a whole number from 1 to 5")
        rating = int(r)
    text: dict[str, str | None] = {}
    for column in ("counter", "staff"):
        value = cells[column].strip()
        if len(value) > MAX_FIELD:
            raise ValueError(f"{column} is longer than {MAX_FIELD} characters")
        text[column] = value or None
    return check(Visit(business, issued, called, finished, text["counter"], text["staff"], rating, line))


def check(v: Visit, businesses: set[str] | None = None) -> Visit:
    """The visit, if its times and rating are in order; raise ValueError naming what is not."""
    if businesses is not None and v.business not in businesses:
        raise ValueError(f"business {v.business!r} is not one of this hall's ({', '.join(sorted(businesses))})")
    if v.called_at is not None and v.called_at < v.issued_at:
        raise ValueError("called_at is before issued_at")
    if v.finished_at is not None:
        if v.called_at is None:
            raise ValueError("finished_at without called_at (a visit is finished only after a call)")
        if v.finished_at < v.called_at:
            raise ValueError("finished_at is before called_at")
        if v.finished_at - v.issued_at > 86400:
            raise ValueError("the visit lasts more than a day")
    if v.rating is not None and v.finished_at is None:
        raise ValueError("rating without finished_at (only a finished visit is rated)")
    return v


def parse(text: str | io.TextIOBase, *, businesses: set[str], now: float | None = None) -> list[Visit]:
    """Every row of a history CSV, checked; raise :class:`HistoryError` naming each bad line."""
    stream = io.StringIO(text) if isinstance(text, str) else text
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise HistoryError([(1, "the file is empty; the first line must be the header " + ",".join(COLUMNS))]) from None
    except csv.Error as exc:
        raise HistoryError([(1, f"not CSV: {exc}")]) from None
    names = [h.strip().lstrip("\ufeff").lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    extra = [n for n in names if n not in COLUMNS]
    if missing or extra or len(set(names)) != len(names):
        what = []
        if missing:
            what.append("missing " + ", ".join(missing))
        if extra:
            what.append("unknown " + ", ".join(repr(e) for e in extra))
        if len(set(names)) != len(names):
            what.append("a column appears twice")
        raise HistoryError([(1, f"header must be {','.join(COLUMNS)}: " + "; ".join(what))])
    visits: list[Visit] = []
    problems: list[tuple[int, str]] = []
    total_bad = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            total_bad += 1
            if len(problems) < MAX_REPORTED:
                problems.append((reader.line_num, f"not CSV: {exc}"))
            continue
        line = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        try:
            if len(row) != len(names):
                raise ValueError(f"{len(row)} cells, the header has {len(names)}")
            visits.append(check_row(dict(zip(names, row, strict=True)), line, businesses, now))
        except ValueError as exc:
            total_bad += 1
            if len(problems) < MAX_REPORTED:
                problems.append((line, str(exc)))
    if total_bad:
        raise HistoryError(problems, total_bad)
    return visits


def iso(ts: float | None, zone: object) -> str:
    """A time for the CSV: ISO 8601 in the hall's zone, with its offset (empty for None)."""
    from zoneinfo import ZoneInfo

    if ts is None:
        return ""
    assert isinstance(zone, ZoneInfo)
    return datetime.fromtimestamp(ts, zone).isoformat(timespec="seconds")


def write(visits: Iterable[dict[str, object]], out: IO[str], zone: object) -> int:
    """Write visits (as the core returns them) as a history CSV in the hall's zone; return how many."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    n = 0
    for v in visits:
        w.writerow(
            [
                v["business"],
                iso(_f(v["issued_at"]), zone),
                iso(_f(v.get("called_at")), zone),
                iso(_f(v.get("finished_at")), zone),
                v.get("counter") or "",
                v.get("staff") or "",
                v.get("rating") or "",
            ]
        )
        n += 1
    return n


def _f(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
