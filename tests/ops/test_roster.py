"""The roster suggestion on hand-worked weeks, and the ops service saving plans in a real core."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints
from edge.ops import history
from edge.ops.config import DEFAULT_SHIFTS, Shift
from edge.ops.roster import Need, Person, suggest
from edge.paths import Home
from tests.conftest import CoreProcess

MON = date(2026, 7, 6)


def half_hours(first: str, last: str) -> list[int]:
    lo, hi = (int(t[:2]) * 60 + int(t[3:]) for t in (first, last))
    return list(range(lo, hi, 30))


def test_skills_decide_who_works_when() -> None:
    # Monday: one A counter 09:00-12:00, one B counter 13:00-17:00
    need = {(MON, m): Need(1, {"A": 1}) for m in half_hours("09:00", "12:00")}
    need |= {(MON, m): Need(1, {"B": 1}) for m in half_hours("13:00", "17:00")}
    staff = [Person("wang", "王芳", frozenset({"A"})), Person("li", "李雷", frozenset({"B"}))]
    r = suggest([MON], need, 30, staff, DEFAULT_SHIFTS, max_days=5)
    assert [(a["staff"], a["shift"]) for a in r["assignments"]] == [("wang", "上午"), ("li", "下午")]
    assert r["short"] == [] and r["hours"] == {"wang": 4.0, "li": 4.5}


def test_what_nobody_can_cover_is_reported_slot_by_slot() -> None:
    need = {(MON, m): Need(1, {"A": 1}) for m in half_hours("09:00", "12:00")}
    need |= {(MON, m): Need(1, {"B": 1}) for m in half_hours("13:00", "17:00")}
    r = suggest([MON], need, 30, [Person("wang", "王芳", frozenset({"A"}))], DEFAULT_SHIFTS, max_days=5)
    # 王芳 covers the counters all day (全天), but no one can serve B in the afternoon
    assert [(a["staff"], a["shift"]) for a in r["assignments"]] == [("wang", "全天")]
    assert r["short"] == [
        {"day": "2026-07-06", "start": f"{m // 60:02d}:{m % 60:02d}", "business": "B", "missing": 1}
        for m in half_hours("13:00", "17:00")
    ]


def test_at_most_max_days_a_week() -> None:
    week = [MON + timedelta(days=i) for i in range(7)]
    need = {(d, m): Need(1) for d in week for m in half_hours("09:00", "12:00")}
    morning = [Shift(name="上午", start="08:30", end="12:30")]
    r = suggest(week, need, 30, [Person("wang", "王芳", frozenset({"A"}))], morning, max_days=5)
    assert len(r["assignments"]) == 5
    assert sum(x["missing"] for x in r["short"]) == 2 * 6  # two days of six half hours each


CONFIG = """
[services.ops]
staff = [
  { id = "wang", name = "王芳", counters = ["1", "2"] },
  { id = "li", name = "李雷", counters = ["3"] },
]
"""


@pytest.fixture
def hall_with_staff(hall_home: Home, tmp_path: Path) -> Iterator[CoreProcess]:
    cfg = tmp_path / "hall.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    proc = CoreProcess(hall_home, cfg).start()
    yield proc
    proc.stop()


def test_the_ops_service_saves_the_day_plan_and_the_roster(hall_with_staff: CoreProcess, tmp_path: Path) -> None:
    home = hall_with_staff.home
    env = {**os.environ, "HALL_HOME": str(home.root), "HALL_CONFIG": str(tmp_path / "hall.toml")}
    with BusClient("test", endpoints=Endpoints.local(home)) as bus:
        today = date.fromisoformat(bus.request("queue.status")["day"])
        cst = timezone(timedelta(hours=8))
        rows = []
        for back in range(1, 29):  # four weeks before today: 4 B customers each half hour 09:00-11:00
            d = today - timedelta(days=back)
            for k in range(16):
                at = datetime(d.year, d.month, d.day, 9, tzinfo=cst) + timedelta(minutes=7.5 * k)
                rows.append(
                    {
                        "line": len(rows) + 2,
                        "business": "B",
                        "issued_at": at.timestamp(),
                        "called_at": at.timestamp() + 60,
                        "finished_at": at.timestamp() + 60 + 900,
                    }
                )
        history.send(bus.request, [history.visit(r) for r in rows], import_id="test-import-1")
        res = subprocess.run(
            [sys.executable, "-m", "edge", "ops", "--once"], env=env, capture_output=True, text=True, timeout=240
        )
        assert res.returncode == 0, res.stderr
        plan = bus.request("plan.get", {"kind": "day", "key": today.isoformat()})
        assert plan is not None
        busy = [r for r in plan["data"]["rows"] if r["arrivals"]]
        # 4 B customers a half hour at 15 minutes: 2 E; Erlang C asks for 4 counters (3 call 1 − (4/9)·e^(−2/3) = 77.2% within 10 min)
        # but only counters 3 and 4 serve B: two open, two short
        assert {(r["start"][11:16], r["arrivals"]) for r in busy} == {
            ("09:00", 4.0),
            ("09:30", 4.0),
            ("10:00", 4.0),
            ("10:30", 4.0),
        }
        assert {(tuple(r["open"]), r["short"], r["businesses"]["B"]["counters"]) for r in busy} == {(("3", "4"), 2, 4)}
        monday = today - timedelta(days=today.weekday())
        roster = bus.request("roster.get", {"week": monday.isoformat()})
        assert roster["suggested"] is not None and roster["hq"] == []
        li = [a for a in roster["suggested"]["data"]["assignments"] if a["staff"] == "li"]
        assert li and all(a["shift"] in ("全天", "上午") for a in li)  # the B mornings need 李雷 (counter 3)
        again = subprocess.run(
            [sys.executable, "-m", "edge", "ops", "--once"], env=env, capture_output=True, text=True, timeout=240
        )
        assert "saved the" not in again.stderr  # nothing changed: nothing recomputed


def test_the_demo_hall_gets_made_up_history_once(core: CoreProcess) -> None:
    env = {**os.environ, "HALL_HOME": str(core.home.root), "HALL_DEMO": "1"}
    with BusClient("test", endpoints=Endpoints.local(core.home)) as bus:
        bus.request("ticket.issue", {"business": "A"})  # the demo's first simulated customer came first
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-m", "edge", "ops", "--once"], env=env, capture_output=True, text=True, timeout=240
        )
        assert res.returncode == 0, res.stderr
    with BusClient("test", endpoints=Endpoints.local(core.home)) as bus:
        summary = bus.request("history.summary")
        today = bus.request("queue.status")["day"]
        assert summary["imported"]["days"] >= 25 and summary["imported"]["last"] < today
        assert bus.request("history.counts", {"before": today})["handled"]["A"] > 100
        assert bus.request("plan.get", {"kind": "day", "key": today}) is not None
    assert res.stderr.count("imported") == 0  # the second run found history and imported nothing
