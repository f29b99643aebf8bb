"""Repair reports at the core: reference numbers, checks that name the field, HQ's updates applied once."""

from __future__ import annotations

import base64

import pytest

from edge.bus import BusClient
from edge.errors import InvalidRequest, NotFound

pytestmark = pytest.mark.process
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(100)).decode()


def report(**extra: object) -> dict[str, object]:
    return {"kind": "no_power", "phone": "138 0013 8000", "address": "示范市城东区解放路 8 号",
            "description": "整栋楼没电", **extra}  # fmt: skip


def test_reports_are_numbered_per_day_and_go_to_the_log_with_what_a_crew_needs(bus: BusClient) -> None:
    first = bus.request("repair.report", report(photos=[JPEG]))
    second = bus.request("repair.report", report(supply_point="3100-2231-77", address=None))
    assert first["reference"].startswith("BX-") and first["reference"].endswith("-001")
    assert second["reference"] == first["reference"][:-3] + "002"
    assert first["phone_masked"] == "138****8000" and first["state"] == "received"
    (logged, _) = bus.request("events.since", {"seq": 0, "prefix": "repair.reported"})
    data = logged["data"]
    assert (data["phone"], data["address"], data["photos"]) == ("13800138000", "示范市城东区解放路 8 号", [JPEG])
    assert data["reference"] == first["reference"] and data["hall"] == "demo-001"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"address": None}, "give the address, the supply point or the area"),
        ({"photos": [base64.b64encode(b"GIF89a" + bytes(10)).decode()]}, "photo 1 is neither JPEG nor PNG"),
        ({"photos": [base64.b64encode(b"\xff\xd8\xff" + bytes(49 * 1024)).decode()]}, "at most 49152 are taken"),
        ({"photos": [JPEG] * 4}, "photos"),
    ],
)
def test_a_bad_report_is_refused_naming_what_is_wrong(bus: BusClient, bad: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        bus.request("repair.report", report(**bad))
    assert field in str(refused.value)
    assert bus.request("events.since", {"seq": 0, "prefix": "repair."}) == []


def test_hqs_updates_are_applied_once_and_the_kiosk_can_look_a_report_up(bus: BusClient) -> None:
    customer = {"kind": "id", "hash": "ab" * 32, "masked": "1101**********002X"}
    ref = bus.request("repair.report", report(customer=customer))["reference"]
    update = {
        "reference": ref,
        "update_id": 7,
        "state": "dispatched",
        "note": "抢修车已出发",
        "at": "2026-11-25T02:00Z",
    }
    assert bus.request("repair.update", update)["state"] == "dispatched"
    assert bus.request("repair.update", {**update, "state": "closed"})["already"] is True  # the same id again
    with pytest.raises(NotFound):
        bus.request("repair.update", {**update, "update_id": 8, "reference": "BX-200101-001"})
    (mine,) = bus.request("repair.lookup", {"customer_hash": "cd" * 32, "also": ["ab" * 32]})["reports"]
    assert (mine["reference"], mine["state"], mine["note"]) == (ref, "dispatched", "抢修车已出发")
    assert mine["phone_masked"] == "138****8000" and "phone" not in mine and "photos" not in mine
    assert [u["state"] for u in mine["updates"]] == ["dispatched"]
    updated = bus.request("events.since", {"seq": 0, "prefix": "repair.updated"})
    assert [e["data"]["update_id"] for e in updated] == [7]
