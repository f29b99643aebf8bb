"""What reaches the operations code from outside: the history CSV a hall brings from its old system.

``hall history import FILE`` reads the file as UTF-8 text, checks it whole with
:func:`edge.ops.history.parse`, then stages its rows at the core in chunks (``history.stage``). The
target is that chain up to the core's request model: a file the check passes must be one the core's
model takes too, every row in order (times, rating, field lengths) and its business day computable, so
that nothing is refused half-way through an import with a message that names no line.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from edge.errors import HallError
from edge.ops import history
from edge.queue.clock import business_day
from edge.schemas import parse as parse_request
from edge.schemas.ops import MAX_CHUNK, HistoryStage
from tests.fuzz.core import ODD_VALUES, Case, Target, mutated_text, raw, refused_valid, tweak, valid

BUSINESSES = {"A", "B", "C"}
ZONE = ZoneInfo("Asia/Shanghai")
ROLLOVER = time(4, 0)
START = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
END = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp())
NOW = END + 86400  # the importer's clock: a visit after it is refused as in the future

cells = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=64)


@st.composite
def visits(draw: st.DrawFn) -> history.Visit:
    """One visit in order: called after issued, finished after called within the day, rated only if finished."""
    issued = draw(st.integers(START, END))
    called = draw(st.none() | st.integers(issued, issued + 4 * 3600))
    finished = None if called is None else draw(st.none() | st.integers(called, issued + 86400))
    rating = None if finished is None else draw(st.none() | st.integers(1, 5))
    counter, staff = draw(st.none() | cells), draw(st.none() | cells)
    business = draw(st.sampled_from(sorted(BUSINESSES)))
    return history.Visit(business, float(issued), _f(called), _f(finished), counter, staff, rating)


def _f(t: int | None) -> float | None:
    return None if t is None else float(t)


def csv_text(vs: list[history.Visit], zone: ZoneInfo = ZONE) -> str:
    out = io.StringIO()
    history.write([v.to_json() for v in vs], out, zone)
    return out.getvalue()


CSV_TOKENS = [
    ",",
    '"',
    '""',
    "\n",
    "\r",
    "\r\n",
    "\x00",
    "\ufeff",
    "\u2028",
    " ",
    ",".join(history.COLUMNS) + "\n",
    "2026-03-02T09:00:00",
    "+08:00",
    "Z",
    "-12:00",
    "+14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "1969-12-31T23:59:59+00:00",
    "2026-02-30T09:00:00+08:00",
    "2026-03-02 09:00",
    "20260302T0900+0800",
    "T",
    ":",
    "0",
    "6",
    "-1",
    "5.0",
    "５",
    "A",
    "a",
    "x" * 70,
    "福田",
    '"' + "x" * 40,
]


def csv_near_miss(data: bytes, rng: random.Random) -> bytes | None:
    """The CSV with one to three cells out of place: a slip of the old system's export, or an odd value."""
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8", "replace"), newline="")))
    except csv.Error:
        return None
    spots = [(i, j) for i, row in enumerate(rows) for j in range(len(row))]
    if not spots:
        return None
    for _ in range(rng.randint(1, 3)):
        i, j = rng.choice(spots)
        value = rows[i][j]
        odd = tweak(value, rng.randrange(1 << 10)) if rng.random() < 0.7 else rng.choice(ODD_VALUES)
        rows[i][j] = odd if isinstance(odd, str) else str(odd)
    out = io.StringIO()
    csv.writer(out, lineterminator=rng.choice(["\n", "\r\n"])).writerows(rows)
    return out.getvalue().encode("utf-8", "replace")


def history_inputs() -> st.SearchStrategy[Case]:
    files = st.lists(visits(), min_size=1, max_size=8)
    return st.one_of(
        files.map(lambda vs: valid(csv_text(vs), vs)),
        mutated_text(files.map(csv_text), CSV_TOKENS).map(raw),
        st.builds(csv_near_miss, files.map(lambda vs: csv_text(vs).encode()), st.randoms(use_true_random=False))
        .filter(bool)
        .map(lambda b: raw(b.decode("utf-8") if b else "")),
        st.text(max_size=300).map(raw),
    )


def run_history(case: Case) -> None:
    """As ``hall history import`` reads a file: checked whole, then each chunk as the core's model takes it."""
    try:
        got = history.parse(case.data, businesses=BUSINESSES, now=NOW)
    except HallError as exc:
        if case.kind == "valid":
            raise refused_valid("history.parse", exc) from exc
        raise
    if case.kind == "valid":
        want: list[history.Visit] = case.expected
        assert [v.to_json() | {"line": 0} for v in got] == [v.to_json() | {"line": 0} for v in want]
    lines = [v.line for v in got]
    assert lines == sorted(set(lines)), f"lines out of order: {lines}"
    for v in got:
        assert history.check(v, BUSINESSES) == v
        for text in (v.counter, v.staff):
            assert text is None or (text == text.strip() and 0 < len(text) <= history.MAX_FIELD)
        business_day(v.issued_at, ZONE, ROLLOVER)  # the core files each visit under its business day
    rows = [{**v.to_json(), "key": k} for v, k in zip(got, history.keys(got), strict=True)]
    for i in range(0, len(rows), MAX_CHUNK):
        try:
            parse_request(HistoryStage, {"import_id": "fuzz-import", "rows": rows[i : i + MAX_CHUNK]}, "history.stage")
        except HallError as exc:
            raise AssertionError(f"the file check passed what the core refuses: {exc}") from exc


def raw_text(case: Case) -> str:
    data: Any = case.data
    return str(data)


TARGETS = [
    Target(
        "history-csv",
        "ops: history CSV text → history.parse (header, rows, times, ratings) → history.stage's model",
        history_inputs(),
        run_history,
        (HallError,),
        raw_text,
        baseline="csv",
        tokens=[t.encode() for t in CSV_TOKENS],
        near_miss=csv_near_miss,
    ),
]
