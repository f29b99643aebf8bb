"""The fleet at HQ: halls syncing to one HQ as real processes, judged up, down and back; the day's figures."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints
from edge.paths import Home
from sync.hq import fleet
from sync.hq.store import open_store
from tests.conftest import CoreProcess
from tests.sync.conftest import SYNC_TOML, AgentProcess, HqServer, hall_cmd, wait_for

pytestmark = pytest.mark.process


def _event(seq: int, topic: str, data: dict[str, Any], ts: str) -> dict[str, Any]:
    return {"v": 1, "id": f"e{seq}", "ts": ts, "source": "core", "topic": topic, "data": data, "seq": seq}


def test_the_days_figures_are_folded_in_as_batches_arrive() -> None:
    store = open_store(":memory:")
    store.add_hall("h1", bytes(32), region="east")
    day = "2026-11-25T02:00:00.000+00:00"  # 10:00 in Shanghai
    called = {"id": "t1", "business": "A", "state": "called", "queued_at": "2026-11-25T01:50:00+00:00",
              "called_at": "2026-11-25T02:02:00+00:00"}  # fmt: skip
    called2 = {**called, "id": "t2", "queued_at": "2026-11-25T01:58:00+00:00"}  # waited 4 minutes
    records = [
        _event(1, "ticket.issued", {"id": "t1", "business": "A", "state": "issued"}, day),
        _event(2, "ticket.issued", {"id": "t2", "business": "A", "state": "issued"}, day),
        _event(3, "ticket.called", called, day),  # waited 12 minutes
        _event(4, "ticket.called", called2, day),
        _event(5, "evaluation.recorded", {"number": "A001", "score": 5}, day),
        _event(6, "evaluation.recorded", {"number": "A002", "score": 2}, day),
        _event(7, "device.health", {"device": "printer", "state": "fault", "detail": "paper out"}, day),
    ]
    store.ingest("h1", "records", 0, 9, records, now=0.0)
    alerts = [
        _event(8, "alert.raised", {"key": "wait:A", "rule": "longest_wait", "message": "A waits 20 min"}, day),
        _event(9, "alert.raised", {"key": "device:printer", "rule": "device", "message": "printer"}, day),
    ]
    store.ingest("h1", "alerts", 0, 9, alerts, now=0.0)
    store.ingest("h1", "alerts", 9, 10, [_event(10, "alert.cleared", {"key": "wait:A"}, day)], now=0.0)
    noon = calendar.timegm(time.strptime("2026-11-25 04:00:00", "%Y-%m-%d %H:%M:%S"))  # 12:00 in Shanghai
    (row,) = fleet.rows(store, now=noon)
    assert row["tickets_today"] == 2 and row["ratings_today"] == 2
    assert row["wait_avg_min"] == 8.0  # (12 + 4) / 2
    assert row["rating_avg"] == 3.5  # (5 + 2) / 2
    assert row["alerts_open"] == 1 and row["backlog"] == 0
    page = fleet.hall_page(store, "h1", now=noon)
    assert [a["key"] for a in page["alerts"]] == ["device:printer"]
    assert page["devices"] == [{"device": "printer", "state": "fault", "detail": "paper out", "at": day}]
    assert page["queues"] == [{"business": "A", "name": "A", "waiting": 0, "serving": 2, "done": 0}]


class Hall:
    """A hall's core and sync agent as processes, linked to one HQ."""

    def __init__(self, root: Path, hall: str, hq: HqServer, region: str) -> None:
        self.hall = hall
        self.home = Home(root / hall).ensure()
        self.home.config_path.write_text(f'[hall]\nid = "{hall}"\nname = "{hall}"\n' + SYNC_TOML)
        line = hq.cmd("hall", "add", hall, "--url", hq.url, "--region", region)
        hall_cmd("sync", "credential", "-", stdin=line, env={"HALL_HOME": str(self.home.root)})
        self.core = CoreProcess(self.home)
        self.agent = AgentProcess(self.home)

    def bus(self) -> BusClient:
        return BusClient("test", endpoints=Endpoints.local(self.home), timeout=5.0, retries=2)


def fleet_rows(hq: HqServer, *extra: str) -> dict[str, dict[str, Any]]:
    out = hq.cmd("fleet", "--json", "--late-after", "1.5", "--down-after", "4", *extra)
    return {r["hall"]: r for r in json.loads(out)}


@pytest.fixture
def halls(request: pytest.FixtureRequest, hq: HqServer, tmp_path: Path) -> Iterator[list[Hall]]:
    made = [Hall(tmp_path, f"h{i:02d}", hq, "east" if i % 2 else "west") for i in range(request.param)]
    try:
        for h in made:
            h.core.start()
        for h in made:
            h.agent.start()
        yield made
    finally:
        for h in made:
            h.agent.stop()
            h.core.stop()


@pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("halls", [2, 10], indirect=True)
def test_halls_sync_to_one_hq_and_the_fleet_shows_each(hq: HqServer, halls: list[Hall]) -> None:
    issued = {}
    for i, h in enumerate(halls):
        with h.bus() as bus:
            for _ in range(i % 3 + 1):
                bus.request("ticket.issue", {"business": "A"})
            issued[h.hall] = i % 3 + 1
            heads = bus.request("hall.ping")["seq"]
        wait_for(lambda h=h, heads=heads: _held(hq, h.hall) >= heads, 60, f"{h.hall}'s events at HQ")
    rows = fleet_rows(hq)
    assert sorted(rows) == [h.hall for h in halls]
    for h in halls:
        row = rows[h.hall]
        assert row["link"] == "up" and row["backlog"] == 0 and row["last_ack"] is not None
        assert row["tickets_today"] == issued[h.hall] and row["alerts_open"] == 0
    assert {r["region"] for r in rows.values()} == {"east", "west"}


def _held(hq: HqServer, hall: str) -> int:
    return int(json.loads(hq.cmd("status", hall, "--json"))["held"])


@pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("halls", [2], indirect=True)
def test_a_killed_agent_goes_down_and_comes_back_up(hq: HqServer, halls: list[Hall]) -> None:
    first, other = halls
    wait_for(lambda: all(r["link"] == "up" for r in fleet_rows(hq).values()), 60, "both halls up")
    first.agent.kill9()
    wait_for(lambda: fleet_rows(hq)[first.hall]["link"] == "late", 30, f"{first.hall} late")
    wait_for(lambda: fleet_rows(hq)[first.hall]["link"] == "down", 30, f"{first.hall} down")
    assert fleet_rows(hq)[other.hall]["link"] == "up"
    with first.bus() as bus:  # the hall works on while its link is down: HQ sees the backlog when it returns
        for _ in range(3):
            bus.request("ticket.issue", {"business": "A"})
        head = bus.request("hall.ping")["seq"]
    first.agent.start()
    wait_for(lambda: fleet_rows(hq)[first.hall]["link"] == "up", 60, f"{first.hall} up again")
    wait_for(lambda: _held(hq, first.hall) >= head, 60, "the backlog drained")
    assert fleet_rows(hq)[first.hall]["backlog"] == 0


@pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)
def test_a_hall_never_heard_from_is_never_and_the_table_lists_it(hq: HqServer) -> None:
    hq.cmd("hall", "add", "quiet-01", "--url", hq.url, "--region", "north")
    rows = fleet_rows(hq)
    assert rows["quiet-01"]["link"] == "never" and rows["quiet-01"]["last_ack"] is None
    hq.cmd("hall", "add", "gz-01", "--url", hq.url, "--region", "广州")
    text = hq.cmd("fleet")
    assert text.splitlines()[0] == "2 halls: 0 up, 0 late, 0 down, 2 never"
    # a Chinese character takes two columns in a terminal: the columns after a region stay in line
    head, quiet, gz = text.splitlines()[1:]  # by region
    assert gz.startswith("gz-01     广州    never  0        never ")
    assert quiet.startswith("quiet-01  north   never  0        never ")
    assert head.startswith("hall      region  link   backlog  last_ack (Asia/Shanghai)  alerts")
