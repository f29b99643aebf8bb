"""The agent between a real core and a real HQ: bundles down, shedding seen at HQ, no credential."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from sync.client import HqClient
from sync.config import Credential
from tests.conftest import CoreProcess
from tests.sync.conftest import SYNC_TOML, AgentProcess, HqServer, hall_cmd, wait_for
from tests.sync.test_core_area import OTHER, VIP, bundle, customer

pytestmark = pytest.mark.process
sqlite_only = pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)


@pytest.fixture
def linked(sync_core: CoreProcess, hq: HqServer) -> Iterator[tuple[BusClient, HqClient, Credential]]:
    cred = hq.add_hall("demo-001")
    hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(sync_core.home.root)})
    with (
        BusClient("test", endpoints=Endpoints.local(sync_core.home), timeout=5.0) as bus,
        HqClient(cred) as client,
    ):
        yield bus, client, cred


@sqlite_only
def test_bundles_come_down_and_refusals_go_up(
    sync_core: CoreProcess, hq: HqServer, linked: tuple[BusClient, HqClient, Credential], tmp_path: Path
) -> None:
    bus, client, _ = linked
    good = tmp_path / "v1.json"
    good.write_text(json.dumps(bundle(1), ensure_ascii=False))
    hq.cmd("bundle", "publish", str(good), "--hall", "demo-001")
    agent = AgentProcess(sync_core.home).start()
    try:
        wait_for(lambda: bus.request("bundle.status")["version"] == 1, 30, "bundle 1 to be applied")
        wait_for(lambda: (client.status()["bundle"] or {}).get("applied") is True, 30, "HQ to learn bundle 1 applied")
        assert bus.request("ticket.issue", {"business": "A", "customer": customer(VIP)})["priority"] == "vip"

        bad = tmp_path / "v2.json"
        bad.write_text(json.dumps(bundle(2, customer_tags=[{"hash": OTHER, "tags": ["GOLD"]}]), ensure_ascii=False))
        hq.cmd("bundle", "publish", str(bad))  # for every hall
        wait_for(lambda: (client.status()["bundle"] or {}).get("version") == 2, 30, "HQ to learn of bundle 2")
        result = client.status()["bundle"]
        assert result["applied"] is False and "GOLD" in result["error"]
        assert bus.request("bundle.status")["version"] == 1  # the previous one stays
        assert bus.request("ticket.issue", {"business": "A", "customer": customer(VIP)})["priority"] == "vip"
        head = bus.request("hall.ping")["seq"]
        wait_for(lambda: client.status()["held"] == head, 30, "the bundle events to reach HQ")
    finally:
        agent.stop()
    store_topics = [e["topic"] for e in _hq_events(hq)]
    assert "bundle.applied" in store_topics and "bundle.refused" in store_topics


@sqlite_only
def test_full_disk_gap_reaches_hq(sync_core: CoreProcess, hq: HqServer, linked: Any) -> None:
    bus, client, _ = linked
    for i in range(5):
        bus.request("event.publish", {"topic": "flow.counted", "data": {"i": i}})
    bus.request("ticket.issue", {"business": "A"})
    # more free disk asked for than any machine has: the agent sheds at once
    sync_core.home.config_path.write_text(SYNC_TOML + "min_free_mb = 1000000\n")
    agent = AgentProcess(sync_core.home).start()
    try:
        wait_for(lambda: any(e["topic"] == "sync.gap" for e in _hq_events(hq)), 30, "the gap to reach HQ")
        head = bus.request("hall.ping")["seq"]
        wait_for(lambda: client.status()["backlog"] == 0, 30, "HQ's backlog to count the shed events")
    finally:
        agent.stop()
    events = _hq_events(hq)
    topics = [e["topic"] for e in events]
    assert "flow.counted" not in topics and "ticket.issued" in topics
    gap = next(e for e in events if e["topic"] == "sync.gap")["data"]
    assert (gap["lane"], gap["count"]) == ("analytics", 5)
    assert client.status()["shed"] == 5 and len(events) + 5 == head


@sqlite_only
def test_after_an_outage_alerts_go_first_and_analytics_last(
    sync_core: CoreProcess, hq: HqServer, linked: tuple[BusClient, HqClient, Credential]
) -> None:
    bus, client, _ = linked
    for i in range(150):  # the backlog of a day without a link: 4 batches of records, 2 of analytics
        bus.request("ticket.issue", {"business": "AB"[i % 2]})
        if i % 2:
            bus.request("event.publish", {"topic": "flow.counted", "data": {"i": i}})
    # the newest event, yet the first to go: an alert the core raises for a device gone offline
    bus.request("event.publish", {"topic": "device.health", "data": {"device": "printer", "state": "offline"}})
    head = bus.request("hall.ping")["seq"]
    agent = AgentProcess(sync_core.home).start()
    try:
        wait_for(lambda: client.status()["held"] >= head, 60, "HQ to hold the whole backlog")
    finally:
        agent.stop()
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(hq.db)) as db:
        spans = {
            lane: (first, last)
            for lane, first, last in db.execute(
                "SELECT lane, MIN(received_at), MAX(received_at) FROM events WHERE seq <= ? GROUP BY lane", (head,)
            )
        }
    assert spans["alerts"][1] <= spans["records"][0]
    assert spans["records"][1] <= spans["analytics"][0]


@sqlite_only
def test_a_bundle_too_large_for_the_core_is_refused_and_reported(
    sync_core: CoreProcess,
    hq: HqServer,
    linked: tuple[BusClient, HqClient, Credential],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sync.agent
    from sync.config import SyncConfig

    bus, client, cred = linked
    file = tmp_path / "big.json"
    file.write_text(json.dumps(bundle(1), ensure_ascii=False))
    hq.cmd("bundle", "publish", str(file))
    monkeypatch.setattr(sync.agent, "MAX_BUNDLE_BYTES", 500)  # bundle(1) is about 0.9 kB
    agent = sync.agent.Agent(SyncConfig(), cred, bus, client, home=sync_core.home)
    agent.pull_bundle()
    assert client.status()["bundle"]["applied"] is False
    assert "more than the core takes" in client.status()["bundle"]["error"]
    assert bus.request("bundle.status")["version"] is None
    refused = bus.request("events.since", {"seq": 0, "prefix": "bundle.refused"})
    assert [e["data"]["version"] for e in refused] == [1]
    agent.pull_bundle()  # the same bundle is not tried again
    assert len(bus.request("events.since", {"seq": 0, "prefix": "bundle.refused"})) == 1


@sqlite_only
def test_a_refused_batch_stops_its_lane_only_and_is_shown(
    sync_core: CoreProcess, hq: HqServer, linked: tuple[BusClient, HqClient, Credential]
) -> None:
    bus, client, _ = linked
    for _ in range(3):
        bus.request("ticket.issue", {"business": "A"})
    seqs = [e["seq"] for e in bus.request("events.since", {"seq": 0, "prefix": "ticket.issued"})]
    flow = publish_flow(bus)
    # HQ already holds the second ticket's seq, as an analytics event (a box restored from an old copy,
    # a store edited by hand): the records lane can no longer be taken as the box has it
    forged = {"v": 1, "id": "forged", "ts": "2026-11-25T01:00:00.000+00:00", "source": "core",
              "topic": "flow.counted", "data": {}, "seq": seqs[1]}  # fmt: skip
    client.send_batch("analytics", 0, seqs[1], [forged])
    agent = AgentProcess(sync_core.home).start()
    try:

        def refused() -> bool:
            link = bus.request("sync.status")["link"] or {}
            return "lane records stopped at seq 0" in (link.get("error") or "")

        wait_for(refused, 30, "the box to show the refused lane")
        error = bus.request("sync.status")["link"]["error"]
        assert f"seq {seqs[1]} is already held at HQ in lane analytics" in error
        wait_for(lambda: client.cursors()["analytics"] == flow, 30, "the analytics lane to go on")
        seen: list[dict[str, Any]] = []
        with Subscriber(["sync.status"], endpoints=Endpoints.local(sync_core.home)) as sub:
            wait_for(lambda: _refused_status(sub, seen), 30, "a sync.status event saying which lane is refused")
        event = seen[0]
        assert event["refused"][0]["lane"] == "records" and event["refused"][0]["seq"] == seqs[1]
        assert event["refused"][0]["field"] == "events[1].seq"
        cli = json.loads(hall_cmd("sync", "status", "--json", env={"HALL_HOME": str(sync_core.home.root)}))
        assert "lane records stopped" in cli["last_error"] and cli["link_ok"] is True
        # tried again (every refused_retry_s), said once
        wait_for(lambda: hq.log.read_text().count("batch refused") >= 3, 30, "the agent to try the lane again")
    finally:
        agent.stop()
    assert agent.log.read_text().count("lane records stopped") == 1
    assert client.cursors()["records"] == 0  # nothing of the refused lane dropped or taken out of order


def publish_flow(bus: BusClient) -> int:
    seq: int = bus.request("event.publish", {"topic": "flow.counted", "data": {"n": 1}})["seq"]
    return seq


def _refused_status(sub: Subscriber, seen: list[dict[str, Any]]) -> bool:
    env = sub.recv(timeout=0.5)
    if env is not None and env["data"].get("state") == "refused":
        seen.append(env["data"])
    return bool(seen)


def test_agent_without_credential_waits(hall_home: Any) -> None:
    hall_home.config_path.write_text(SYNC_TOML)
    agent = AgentProcess(hall_home).start()
    try:
        wait_for(lambda: "no HQ credential" in agent.log.read_text(), 30, "the agent to say it has no credential")
        assert agent.proc is not None and agent.proc.poll() is None
    finally:
        agent.stop()
    assert agent.proc.returncode == 0


def test_demo_agent_syncs_with_its_own_hq(sync_core: CoreProcess) -> None:
    home = sync_core.home
    agent = AgentProcess(home, env={"HALL_DEMO": "1"}).start()
    with BusClient("test", endpoints=Endpoints.local(home), timeout=5.0) as bus:
        try:
            number = bus.request("ticket.issue", {"business": "A"})["number"]

            def drained() -> bool:
                st = bus.request("sync.status")
                return bool(st["link"] and st["link"]["ok"] and st["backlog"] == 0 and st["cursor"] > 0)

            wait_for(drained, 60, "the demo agent to drain the log into its own HQ")
        finally:
            agent.stop()
    assert not (home.root / "sync.credential").exists()
    from sync.hq.store import open_store

    store = open_store(str(home.root / "demo-hq.db"))
    try:
        issued = [e["data"]["number"] for e in store.events("demo-001") if e["topic"] == "ticket.issued"]
    finally:
        store.close()
    assert issued == [number]


def _hq_events(hq: HqServer) -> list[dict[str, Any]]:
    store = hq.store()
    try:
        return store.events("demo-001", 0, 5000)
    finally:
        store.close()


@sqlite_only
def test_a_box_whose_log_is_behind_what_hq_holds_sends_nothing_and_says_why(
    sync_core: CoreProcess, hq: HqServer, linked: tuple[BusClient, HqClient, Credential]
) -> None:
    bus, client, _ = linked
    # HQ holds 60 events of this hall, sent by the box this one replaces (or this one before its HALL_HOME
    # was made anew); this box's log is far shorter
    old = [{"v": 1, "id": f"old{n}", "ts": "2026-11-25T01:00:00.000+00:00", "source": "core",
            "topic": "ticket.issued", "data": {"n": n}, "seq": n} for n in range(1, 61)]  # fmt: skip
    client.send_batch("records", 0, 60, old)
    head = bus.request("hall.ping")["seq"]
    assert head < 60
    agent = AgentProcess(sync_core.home).start()
    try:
        wait_for(lambda: "beyond this box's log" in agent.log.read_text(), 30, "the agent to say why it sends nothing")
        for _ in range(70):  # the box's log passes what HQ holds: its events must not pass for the old box's
            bus.request("ticket.issue", {"business": "A"})
        tries = agent.log.read_text().count("beyond this box's log")
        wait_for(lambda: agent.log.read_text().count("beyond this box's log") >= tries + 2, 60, "two more tries")
        link = bus.request("sync.status")["link"] or {}
        assert "nothing is sent until HQ's history of the hall is moved aside" in (link.get("error") or "")
    finally:
        agent.stop()
    text = agent.log.read_text()
    assert f"HQ holds events of hall demo-001 up to seq 60, beyond this box's log (seq {head})" in text
    assert client.status()["held"] == 60 and [e["id"] for e in _hq_events(hq)] == [e["id"] for e in old]
