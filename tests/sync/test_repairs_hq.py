"""A repair report from the box to HQ with what a crew needs, and HQ's status back to the box's "my report"."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints
from tests.conftest import CoreProcess
from tests.sync.conftest import AgentProcess, HqServer, hall_cmd, wait_for

pytestmark = [pytest.mark.process, pytest.mark.parametrize("hq_db", ["sqlite", "postgres"], indirect=True)]
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # a (tiny) JPEG's bytes


def test_a_report_reaches_hq_and_hqs_answer_reaches_the_kiosk(
    sync_core: CoreProcess, hq: HqServer, tmp_path: Path
) -> None:
    cred = hq.add_hall("demo-001")
    hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(sync_core.home.root)})
    with BusClient("test", endpoints=Endpoints.local(sync_core.home), timeout=5.0) as bus:
        ref = bus.request("repair.report", {"kind": "line", "phone": "13800138000", "supply_point": "3100-2231-77",
                                            "description": "线路断落", "photos": [base64.b64encode(PHOTO).decode()],
                                            "kiosk": "kiosk-1"})["reference"]  # fmt: skip
        agent = AgentProcess(sync_core.home).start()
        try:
            wait_for(lambda: _reports(hq) != [], 60, "the report at HQ")
            (row,) = _reports(hq)
            assert (row["hall"], row["reference"], row["state"]) == ("demo-001", ref, "received")
            assert (row["phone"], row["place"], row["photos"]) == ("13800138000", "3100-2231-77", 1)
            shown = json.loads(hq.cmd("repair", "show", "demo-001", ref, "--photos", str(tmp_path / "photos")))
            assert Path(shown["photo_files"][0]).read_bytes() == PHOTO

            assert "update 1" in hq.cmd("repair", "update", "demo-001", ref, "--state", "dispatched",
                                        "--note", "抢修车已出发")  # fmt: skip

            def mine() -> dict[str, object]:
                (report,) = bus.request("repair.lookup", {"reference": ref})["reports"]
                return dict(report)

            wait_for(lambda: mine()["state"] == "dispatched", 30, "the box to get HQ's update")
            assert mine()["note"] == "抢修车已出发"

            def delivered() -> bool:
                return bool(json.loads(hq.cmd("repair", "show", "demo-001", ref))["updates"][0]["delivered"])

            wait_for(delivered, 30, "HQ to learn the box has its update")
        finally:
            agent.stop()
    updated = bus_events(sync_core, "repair.updated")
    assert [e["data"]["update_id"] for e in updated] == [1]  # applied once, however often it was fetched


def _reports(hq: HqServer) -> list[dict[str, object]]:
    return list(json.loads(hq.cmd("repair", "list", "--json")))


def bus_events(core: CoreProcess, prefix: str) -> list[dict[str, object]]:
    with BusClient("test", endpoints=Endpoints.local(core.home), timeout=5.0) as bus:
        return list(bus.request("events.since", {"seq": 0, "prefix": prefix}))
