"""HQ builds a bundle from its own customer records; the box applies it; the kiosk shows that customer's bill.

Real processes: ``hall hq serve``, the hall's core and ``hall sync``; the kiosk offscreen on the core's bus.
The card read is made as the devices service makes it: with the customer keys the agent installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient
from edge.identity import Keyring, load_key, make_ref
from edge.paths import Home
from kiosk_ui.drive import tap, text, texts, until
from kiosk_ui.sample import load_sample
from kiosk_ui.tours import card_event
from tests.conftest import CoreProcess
from tests.sync.conftest import SYNC_TOML, AgentProcess, HqServer, hall_cmd, wait_for

pytestmark = pytest.mark.process
CUSTOMER = {"name": "李四", "number": "11010519491231002X"}
OTHER = "110101199003071233"


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[HqServer]:
    server = HqServer(str(tmp_path / "hq.db"), tmp_path / "hq.log").start()
    yield server
    server.stop()


def publish(hq: HqServer, tmp_path: Path, body: dict[str, Any]) -> str:
    file = tmp_path / f"bundle-{len(list(tmp_path.glob('bundle-*')))}.json"
    file.write_text(json.dumps(body, ensure_ascii=False))
    return hq.cmd("bundle", "publish", str(file), "--hall", "demo-001")


def refused(hq: HqServer, tmp_path: Path, body: dict[str, Any], *target: str) -> str:
    file = tmp_path / "refused.json"
    file.write_text(json.dumps(body, ensure_ascii=False))
    try:
        hq.cmd("bundle", "publish", str(file), *(target or ("--hall", "demo-001")))
    except AssertionError as exc:
        return str(exc)
    raise AssertionError("the bundle was published")


def records(amount: int, period: str) -> dict[str, Any]:
    """HQ's own records of two customers, by card: a bill each, and one of them a key account."""
    return {
        "published_at": "2026-11-25T09:00:00+08:00",
        "bills": [
            {"customer": "id:" + CUSTOMER["number"], "period": period, "amount_fen": amount, "due": "2026-12-20"},
            {"customer": "id:" + OTHER, "period": period, "amount_fen": 5000, "paid": True},
        ],
        "customer_tags": [{"customer": "id:" + CUSTOMER["number"], "tags": ["VIP"]}],
    }


def test_hq_publishes_a_customers_bill_and_vip_tag_and_the_kiosk_shows_it_across_a_key_rotation(
    make_kiosk: Callable[..., Any], bus: BusClient, core: CoreProcess, hq: HqServer, tmp_path: Path
) -> None:
    cred = hq.add_hall("demo-001")
    hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(core.home.root)})
    core.home.config_path.write_text(SYNC_TOML)  # read by the agent
    # a demo kiosk on a hall linked to HQ leaves the bundles to HQ: a sample taking version 1 would keep HQ's out
    assert not load_sample(bus, Home(core.home.root)) and bus.request("bundle.status")["version"] is None

    # HQ cannot hash its customers before it has issued the hall a key, and says so
    assert "has no customer key from HQ yet" in refused(hq, tmp_path, records(18650, "2026-10"))
    hq.cmd("customer-key", "rotate", "--hall", "demo-001")
    # a bundle the box would refuse is refused at HQ, with the field named
    bad = records(18650, "2026-10")
    bad["bills"][0]["amount_fen"] = -1
    assert "bills.0.amount_fen" in refused(hq, tmp_path, bad)
    typo = records(18650, "2026-10")
    typo["customer_tags"][0]["customer"] = "id:110105194912310021"  # GB 11643-1999 gives X as its check character
    assert "customer_tags[0].customer: the ID number ending 0021 fails its check character" in refused(
        hq, tmp_path, typo
    )
    hq.cmd("hall", "describe", "demo-001", "--region", "深圳")
    assert "no hall is in region 广州 (regions: 深圳)" in refused(hq, tmp_path, {"outages": []}, "--region", "广州")
    assert "published bundle version 1" in publish(hq, tmp_path, records(18650, "2026-10"))

    agent = AgentProcess(core.home).start()
    try:
        wait_for(lambda: bus.request("bundle.status")["version"] == 1, 60, "the box to apply HQ's bundle")
        assert core.home.customer_keys_path.stat().st_mode & 0o777 == 0o640
        ring = Keyring.load(core.home.customer_keys_path, core.home.secret_path)
        hq_hash = hq.cmd("customer-key", "ref", "demo-001", "id:" + CUSTOMER["number"]).strip()
        assert ring.ref("id", CUSTOMER["number"]).hash == hq_hash  # the box hashes as HQ does

        kiosk = make_kiosk()
        tap(kiosk, "attract.lookup")
        bus.request("event.publish", {"topic": "card.id.read", "data": card_event(core.home, elderly=False,
                                                                                  **CUSTOMER), "durable": False})  # fmt: skip
        until(lambda: kiosk.lookup.found is not None, what="the customer's bundle data")
        tap(kiosk, "lookup.bill")
        assert text(kiosk, "bill.2026-10") == "2026-10   ¥186.50"
        assert "未缴  截止 2026-12-20" in texts(kiosk)
        customer = card_event(core.home, elderly=False, **CUSTOMER)["customer"]
        assert bus.request("ticket.issue", {"business": "A", "customer": customer})["priority"] == "vip"

        # HQ rotates the key: the box installs it, and the bundle keyed with the old one still matches
        old = ring.current.id
        hq.cmd("customer-key", "rotate", "--hall", "demo-001", "--overlap-days", "7")
        wait_for(lambda: _current(core) != old, 30, "the box to install the new customer key")
        customer = card_event(core.home, elderly=False, **CUSTOMER)["customer"]
        own = make_ref("id", CUSTOMER["number"], key=load_key(core.home.secret_path)).hash  # the box's own key
        assert customer["hash"] != hq_hash and customer["also"] == [hq_hash, own]
        assert bus.request("ticket.issue", {"business": "A", "customer": customer})["priority"] == "vip"
        found = bus.request("bundle.lookup", {"customer_hash": customer["hash"], "also": customer["also"]})
        assert [b["amount_fen"] for b in found["bills"]] == [18650]

        # the next bundle is built with the new key; the card read finds it by the hash in force
        publish(hq, tmp_path, records(9900, "2026-11"))
        wait_for(lambda: bus.request("bundle.status")["version"] == 2, 60, "the box to apply bundle 2")
        found = bus.request("bundle.lookup", {"customer_hash": customer["hash"]})
        assert [(b["period"], b["amount_fen"]) for b in found["bills"]] == [("2026-11", 9900)]
        assert bus.request("ticket.issue", {"business": "A", "customer": customer})["priority"] == "vip"
    finally:
        agent.stop()
    status = json.loads(hq.cmd("status", "demo-001", "--json"))
    assert status["bundle"]["version"] == 2 and status["bundle"]["applied"] is True


def _current(core: CoreProcess) -> str:
    return Keyring.load(core.home.customer_keys_path, core.home.secret_path).current.id
