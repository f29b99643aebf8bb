"""``hall hq records verify``: the counter pads' signed records HQ holds, checked as the box checks them.

Every ``record.signed`` event a hall sent is read back from the store as it is kept
(its data's JSON text), a page at a time in short transactions (ingest goes on
meanwhile), and checked hall by hall with :func:`sync.signed.check_hall`: each
record against its digest, each day's records against the day's chain from the
hall's and day's own start. A problem names the hall, day, record id, its number
of the day and HQ's seq of it (``hall hq events HALL --after SEQ-1 --limit 1``
shows it as held).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from edge.errors import InvalidRequest, NotFound
from sync.signed import check_hall

PAGE = 500
TOPIC = "record.signed"
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _held(store: Any, hall: str, seqs: list[int] | None = None) -> Iterator[tuple[int, str]]:
    """The hall's signed records as held, ``(seq, data)`` in seq order: all of them, or those at ``seqs``."""
    if seqs == []:
        return
    m = store.d.mark
    after, todo = 0, sorted(seqs) if seqs is not None else None
    while True:
        with store._tx() as cur:
            if todo is None:
                cur.execute(
                    f"SELECT seq, data FROM events WHERE hall = {m} AND seq > {m} AND topic = {m} "
                    f"ORDER BY seq LIMIT {m}",
                    (hall, after, TOPIC, PAGE),
                )
            else:
                page, todo = todo[:PAGE], todo[PAGE:]
                cur.execute(
                    f"SELECT seq, data FROM events WHERE hall = {m} AND seq IN ({store.d.marks(len(page))}) "
                    "ORDER BY seq",
                    (hall, *page),
                )
            rows = cur.fetchall()
        for seq, data in rows:
            yield int(seq), data if isinstance(data, str) else bytes(data).decode("utf-8", "replace")
        if (todo is None and len(rows) < PAGE) or todo == []:
            return
        after = int(rows[-1][0]) if rows else after


def _days(store: Any, hall: str, day: str | None) -> dict[str, list[int]]:
    """The seqs of the hall's records by day (one day, or all); records that are no JSON object under ""."""
    out: dict[str, list[int]] = {}
    for seq, text in _held(store, hall):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        key = str(record.get("day")) if isinstance(record, dict) else ""
        if day is None or key in ("", day):
            out.setdefault(key, []).append(seq)
    return out


def verify(store: Any, hall: str | None = None, day: str | None = None) -> dict[str, Any]:
    """Check the signed records of one hall or every hall (one day, or all): a report with each problem.

    A hall's records are read twice: once for the day of each, then one day at a time to check it, so
    only one day's records are in memory at once, however many years a hall has sent.
    """
    if day is not None and not DAY_RE.match(day):
        raise InvalidRequest(f"--day {day!r} is not YYYY-MM-DD")
    halls = store.halls()
    if hall is not None:
        if hall not in halls:
            raise NotFound(f"hall {hall} is not known to HQ")
        halls = [hall]
    records, problems = 0, []
    for one in halls:
        for _, seqs in sorted(_days(store, one, day).items()):
            count, found = check_hall(one, _held(store, one, seqs))
            records += count
            problems += found
    broken = {(p["hall"], p["seq"]) for p in problems}
    return {"halls": len(halls), "day": day, "records": records, "broken": len(broken), "problems": problems,
            "ok": not problems}  # fmt: skip


def verdict(report: dict[str, Any]) -> str:
    """The report as a person reads it: one line for the whole, one for each problem."""
    scope = f"{report['halls']} hall(s)" + (f", {report['day']}" if report["day"] else "")
    if report["ok"]:
        return f"{report['records']} signed record(s) of {scope}: all intact"
    lines = [f"{report['records']} signed record(s) of {scope}: {report['broken']} broken"]
    lines += [
        f"  {p['hall']} {p['day'] or '?'} {p['id'] or '?'} (#{p['n'] if p['n'] is not None else '?'}, seq {p['seq']}): "
        f"{p['problem']}"
        for p in report["problems"]
    ]
    return "\n".join(lines)
