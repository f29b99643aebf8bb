"""``hall history``, ``hall forecast`` and ``hall staffing`` against a real core."""

from __future__ import annotations

import json
import math
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from edge.bus import BusClient
from edge.ops import history
from edge.paths import Home
from tests.conftest import CoreProcess
from tests.edge.test_cli import _with_closed_stdout, hall, hall_json

CST = timezone(timedelta(hours=8))
HEADER = "business,issued_at,called_at,finished_at,counter,staff,rating"


def three_weeks_csv(path: Path) -> Path:
    """Working days of 6-24 July 2026: five A customers in each half hour from 09:00 to 11:30, each called
    2 minutes after taking the ticket and served in 3 minutes at counter 1 by 王芳; every fifth rates 5."""
    lines = [HEADER]
    day = date(2026, 7, 6)
    while day <= date(2026, 7, 24):
        if day.weekday() < 5:
            for slot in range(5):
                for k in range(5):
                    issued = datetime(day.year, day.month, day.day, 9, 0, tzinfo=CST) + timedelta(
                        minutes=30 * slot + 5 * k
                    )
                    called, finished = issued + timedelta(minutes=2), issued + timedelta(minutes=5)
                    rating = "5" if k == 0 else ""
                    lines.append(f"A,{issued.isoformat()},{called.isoformat()},{finished.isoformat()},1,王芳,{rating}")
        day += timedelta(days=1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_is_idempotent_and_export_gives_it_back(core: CoreProcess, hall_home: Home, tmp_path: Path) -> None:
    csv = three_weeks_csv(tmp_path / "old.csv")
    first = hall_json(hall_home, "history", "import", str(csv))
    assert isinstance(first, dict)
    assert (first["rows"], first["added"], first["already"]) == (375, 375, 0)
    assert (first["first"], first["last"]) == ("2026-07-06", "2026-07-24")
    again = hall_json(hall_home, "history", "import", str(csv))
    assert isinstance(again, dict) and (again["added"], again["already"]) == (0, 375)
    out = tmp_path / "export.csv"
    res = hall(hall_home, "history", "export", "--out", str(out))
    assert res.returncode == 0, res.stderr
    original = history.parse(csv.read_text(encoding="utf-8"), businesses={"A"})
    exported = history.parse(out.read_text(encoding="utf-8"), businesses={"A"})
    assert sorted(v.digest() for v in exported) == sorted(v.digest() for v in original)
    assert "+08:00" in out.read_text(encoding="utf-8").splitlines()[1]


def test_two_imports_of_one_file_at_once_add_it_once(core: CoreProcess, hall_home: Home, tmp_path: Path) -> None:
    csv = three_weeks_csv(tmp_path / "old.csv")
    env_cmd = [*hall_cmd(hall_home), "history", "import", str(csv), "--json"]
    procs = [subprocess.Popen(env_cmd[1:], env=env_cmd[0], stdout=subprocess.PIPE, text=True) for _ in range(2)]  # type: ignore[arg-type]
    added = [json.loads(p.communicate(timeout=60)[0])["added"] for p in procs]
    assert sorted(added) == [0, 375]
    with BusClient("test") as bus:
        assert bus.request("history.summary")["imported"]["visits"] == 375


def hall_cmd(home: Home) -> list[object]:
    import os
    import sys

    return [{**os.environ, "HALL_HOME": str(home.root)}, sys.executable, "-m", "edge"]


def test_bad_rows_are_named_by_line_and_nothing_is_imported(core: CoreProcess, hall_home: Home, tmp_path: Path) -> None:
    good = "A,2026-07-06T09:00:00+08:00,2026-07-06T09:02:00+08:00,2026-07-06T09:05:00+08:00,1,王芳,5"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "\n".join(
            [
                HEADER,
                good,
                "Z,2026-07-06T09:00:00+08:00,,,,,",
                "A,2026-07-06 09:00,,,,,",
                "A,2026-07-06T09:00:00+08:00,2026-07-06T08:00:00+08:00,,,,",
                "A,2026-07-06T09:00:00+08:00,,,,,6",
                good,
            ]
        ),
        encoding="utf-8",
    )
    res = hall(hall_home, "history", "import", str(bad))
    assert res.returncode == 2
    for line, what in (
        (3, "business 'Z'"),
        (4, "issued_at '2026-07-06 09:00' has no offset"),
        (5, "called_at is before issued_at"),
        (6, "rating '6'"),
    ):
        assert f"line {line}: {what}" in res.stderr
    assert "line 2" not in res.stderr and "nothing imported" in res.stderr
    with BusClient("test") as bus:
        assert bus.request("history.summary")["imported"]["visits"] == 0
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + b"\nA,\xe9\n")
    res = hall(hall_home, "history", "import", str(tmp_path / "latin1.csv"))
    assert res.returncode == 2 and "not UTF-8" in res.stderr


def test_forecast_and_staffing_from_imported_history(core: CoreProcess, hall_home: Home, tmp_path: Path) -> None:
    hall_json(hall_home, "history", "import", str(three_weeks_csv(tmp_path / "old.csv")))
    rows = hall_json(hall_home, "forecast", "--from", "2026-07-27", "--days", "1")
    assert isinstance(rows, list)
    a = {r["start"]: r["arrivals"] for r in rows if r["business"] == "A"}
    # the history repeats exactly: 5 arrivals in each half hour from 09:00 to 11:30 (a Monday, like the others)
    assert a == {f"2026-07-27T{9 + i // 2:02d}:{30 * (i % 2):02d}:00+08:00": 5.0 for i in range(5)}
    assert {r["arrivals"] for r in rows if r["business"] != "A"} == {0.0}
    plan = hall_json(hall_home, "staffing", "--day", "2026-07-27")
    assert isinstance(plan, list) and len(plan) == 5
    # 5 arrivals in 30 minutes at 3 minutes each is 0.5 E; one counter calls 1 − 0.5·e^(−0.5·10/3) = 90.6% in 10 min
    assert 1 - 0.5 * math.exp(-0.5 * 10 / 3) > 0.8
    for r in plan:
        assert (r["arrivals"], r["aht_minutes"], r["counters"]) == (5.0, 3.0, 1)
        assert r["businesses"]["A"] == {"arrivals": 5.0, "aht_minutes": 3.0, "counters": 1}
        assert r["open"] in (["1"], ["2"])  # the counters with A as a primary skill
    # 95% within 1 minute: two counters give C(2, 0.5) = 0.1 and 1 − 0.1·e^(−1.5/3) = 93.9%, three give 99.3%
    strict = hall_json(hall_home, "staffing", "--day", "2026-07-27", "--service-level", "0.95", "--within", "1")
    assert isinstance(strict, list) and {r["counters"] for r in strict} == {3}
    res = hall(hall_home, "forecast", "--from", "2026-07-08", "--days", "1")
    assert res.returncode == 1 and "only 2 day(s) of history before 2026-07-08" in res.stderr
    for args in (("forecast", "--from", "2026-07-27", "--days", "7"), ("staffing", "--day", "2026-07-27")):
        closed = _with_closed_stdout(hall_home, *args)  # as `| head` leaves it: quiet, status 141
        assert (closed.returncode, closed.stderr) == (141, ""), args


def test_an_interrupted_import_leaves_nothing(core: CoreProcess, hall_home: Home) -> None:
    import pytest

    from edge.errors import Conflict, InvalidRequest

    rows = [{"line": n, "business": "A", "issued_at": 1_780_000_000.0 + n} for n in (2, 3)]
    for row, key in zip(rows, history.keys([history.visit(r) for r in rows]), strict=True):
        row["key"] = key
    with BusClient("test") as bus:
        bus.request("history.stage", {"import_id": "interrupted-1", "rows": rows[:1]})  # …and the importer dies
        with pytest.raises(Conflict, match="1 row\\(s\\) arrived, 2 were sent; nothing imported"):
            bus.request("history.commit", {"import_id": "interrupted-1", "rows": 2})
        with pytest.raises(Conflict, match="a line or a key was sent twice"):
            bus.request("history.stage", {"import_id": "interrupted-1", "rows": rows[:1]})
        with pytest.raises(InvalidRequest, match="line 3: called_at is before issued_at"):
            bus.request("history.stage", {"import_id": "other-import", "rows": [{**rows[1], "called_at": 1.0}]})
        with pytest.raises(InvalidRequest, match="line 3: its key does not match its content"):
            bus.request("history.stage", {"import_id": "other-import", "rows": [{**rows[1], "key": rows[0]["key"]}]})
        assert bus.request("history.abort", {"import_id": "interrupted-1"})["dropped"] == 1
        # moved a slice at a time, an import counts only once its last row is in
        bus.request("history.stage", {"import_id": "sliced-1", "rows": rows})
        first = bus.request("history.commit", {"import_id": "sliced-1", "rows": 2, "slice": 1})
        assert (first["state"], first["remaining"]) == ("moving", 1)
        assert bus.request("history.summary")["imported"]["visits"] == 0
        with pytest.raises(Conflict, match="is moving; stage rows under a new import id"):
            bus.request("history.stage", {"import_id": "sliced-1", "rows": rows})
        done = bus.request("history.commit", {"import_id": "sliced-1", "rows": 2, "slice": 1})
        assert (done["state"], done["added"]) == ("done", 2)
        assert bus.request("history.summary")["imported"]["visits"] == 2


def test_a_time_before_1970_or_in_the_future_is_named_before_anything_is_sent(
    core: CoreProcess, hall_home: Home, tmp_path: Path
) -> None:
    # more rows than one chunk of the import, the bad ones in the second: the whole file is checked first
    csv = three_weeks_csv(tmp_path / "old.csv")
    lines = csv.read_text(encoding="utf-8").splitlines()
    lines += lines[1:] * 2 + ["A,0001-01-01T00:00:00+14:00,,,,,", "A,2099-07-06T09:00:00+08:00,,,,,"]
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = hall(hall_home, "history", "import", str(csv))
    assert res.returncode == 2
    assert "line 1127: issued_at 0001-01-01T00:00:00+14:00 is before 1970" in res.stderr
    assert "line 1128: issued_at 2099-07-06T09:00:00+08:00 is in the future" in res.stderr
    with BusClient("test") as bus:
        assert bus.request("history.summary")["imported"]["visits"] == 0
