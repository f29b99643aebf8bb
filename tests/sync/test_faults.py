"""Every event of the hall reaches HQ exactly once, in order, through kills and a faulty link.

Real processes: the core (tickets issued throughout), the agent, the HQ server on
SQLite and on PostgreSQL, and our TCP proxy between the agent and HQ.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from chaos.proxy import FaultProxy
from edge.bus import BusClient, Endpoints, Subscriber
from edge.errors import HallError
from edge.paths import Home
from edge.storage import Database
from sync.client import HqClient
from tests.conftest import CoreProcess
from tests.sync.conftest import AgentProcess, HqServer, hall_cmd, wait_for

pytestmark = pytest.mark.process


class Writer(threading.Thread):
    """Issues tickets and publishes analytics events until stopped (the hall keeps working)."""

    def __init__(self, home: Home) -> None:
        super().__init__(daemon=True)
        self.home = home
        self.stop = threading.Event()
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with BusClient("writer", endpoints=Endpoints.local(self.home), timeout=5.0, retries=2) as bus:
                face = {"count": 1, "face_jpeg": "/9j/" + "A" * 300, "embedding": [0.1] * 128}
                bus.request("event.publish", {"topic": "door.crossed", "data": face})
                while not self.stop.is_set():
                    bus.request("ticket.issue", {"business": "AB"[self.written % 2]})
                    if self.written % 3 == 0:
                        bus.request("event.publish", {"topic": "flow.counted", "data": {"n": self.written}})
                    self.written += 1
                    self.stop.wait(0.01)
        except BaseException as exc:
            self.error = exc


def test_every_event_reaches_hq_once_in_order(sync_core: CoreProcess, hq: HqServer, tmp_path: Path) -> None:
    home = sync_core.home
    proxy = FaultProxy(("127.0.0.1", hq.port))
    cred = hq.add_hall("demo-001", url=proxy.url)
    hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(home.root)})
    writer = Writer(home)
    writer.start()
    agent = AgentProcess(home).start()
    watch = HqClient(cred, url=hq.url)  # straight to HQ, around the proxy
    bus = BusClient("test", endpoints=Endpoints.local(home), timeout=5.0)

    def held() -> int:
        try:
            return int(watch.status()["held"])
        except HallError:
            return -1

    def progress(more: int, what: str) -> None:
        start = held()
        wait_for(lambda: held() >= start + more, 60, f"HQ to hold {more} more events ({what})", interval=0.1)

    def written(more: int) -> None:
        start = writer.written
        wait_for(lambda: writer.written >= start + more, 30, f"the core to issue {more} more tickets")

    try:
        progress(30, "start")
        proxy.set(delay=0.05)  # requests in flight most of the time
        for _ in range(3):  # HQ dies mid-batch, at a different point of reading or storing it each time
            progress(5, "slow link")
            hq.kill9()
            written(10)
            hq.start()
        progress(30, "HQ restarted")
        agent.kill9()
        written(20)
        agent.start()
        progress(30, "agent restarted")
        proxy.set(drop=0.4)  # answers lost after HQ stored the batch: the agent sends again
        progress(30, "answers dropped")
        assert proxy.stats["dropped"] > 0
        proxy.set(cut=True)
        wait_for(lambda: (bus.request("sync.status")["link"] or {}).get("ok") is False, 30, "the link to be down")
        written(30)
        proxy.set(delay=0.01, duplicate=True)  # HQ sees every request twice
        progress(30, "duplicated traffic")
        assert proxy.stats["duplicated"] > 0
        proxy.set(truncate=0.2, corrupt=0.2)  # requests cut short, bytes flipped both ways
        hit = proxy.stats
        wait_for(lambda: hit["truncated"] > 2 and hit["corrupted"] > 2, 60, "requests cut short and bytes flipped")
        progress(30, "truncated and corrupted traffic")
        proxy.set()
        writer.stop.set()
        writer.join(10)
        assert writer.error is None, writer.error
        # the core may still log (alerts raised by its rules): compare against its head at each look
        wait_for(lambda: held() == bus.request("hall.ping")["seq"], 90, "HQ to hold every event", interval=0.1)
        head = held()

        # the panel's view: the core's status and the sync.status events agree with HQ
        with Subscriber(["sync.status"], endpoints=Endpoints.local(home)) as sub:
            wait_for(lambda: _drained(sub, head), 30, "a sync.status event showing the backlog drained")

        def agree() -> bool:
            st, at_hq = bus.request("sync.status"), watch.status()
            return (
                st["backlog"] == 0
                and st["cursor"] == st["head"] == at_hq["head"]
                and at_hq["backlog"] == 0
                and st["link"]["ok"] is True
            )

        wait_for(agree, 30, "the box's and HQ's link status to agree")
        cli = json.loads(hall_cmd("sync", "status", "--json", env={"HALL_HOME": str(home.root)}))
        assert cli["cursor"] >= head and cli["last_error"] is None and cli["last_ack"] is not None
    finally:
        writer.stop.set()
        agent.stop()
        proxy.close()
        watch.close()
        bus.close()
    sync_core.stop()
    assert "Traceback" not in hq.log.read_text()  # whatever came over the wire, HQ answered it
    assert "Traceback" not in agent.log.read_text()  # and the agent took every answer, mangled or not

    # HQ holds every event of the hall exactly once, in seq order, as the box logged it
    db = Database(home.db_path, readonly=True)
    store = hq.store()
    try:
        box = _all(lambda seq: db.events_since(seq, 1000))
        held_events = _all(lambda seq: store.events("demo-001", seq, 1000))
    finally:
        store.close()
        db.close()
    top = held_events[-1]["seq"]
    assert top >= head
    box = [e for e in box if e["seq"] <= top]  # anything after was logged once the agent had stopped
    assert [e["seq"] for e in held_events] == [e["seq"] for e in box] == list(range(1, top + 1))
    assert len({e["id"] for e in held_events}) == top
    for mine, theirs in zip(box, held_events, strict=True):
        assert (mine["id"], mine["topic"], mine["ts"]) == (theirs["id"], theirs["topic"], theirs["ts"])
        if mine["topic"] != "door.crossed":
            assert mine["data"] == theirs["data"]
    door = next(e for e in held_events if e["topic"] == "door.crossed")
    assert door["data"] == {"count": 1, "_scrubbed": ["face_jpeg", "embedding"]}


def _all(page: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while batch := page(out[-1]["seq"] if out else 0):
        out += batch
    return out


def _drained(sub: Subscriber, head: int) -> bool:
    env = sub.recv(timeout=0.5)
    return env is not None and env["data"].get("backlog") == 0 and env["data"].get("cursor", 0) >= head
