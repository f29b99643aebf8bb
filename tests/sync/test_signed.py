"""Signed records reach HQ as they were signed, and HQ checks them as the box does."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints
from edge.records.digest import genesis, seal
from sync.client import HqClient
from sync.privacy import scrub
from sync.signed import verify
from tests.conftest import CoreProcess
from tests.records_helpers import CUSTOMER, customer_at_counter, name_change_values, signature
from tests.sync.conftest import AgentProcess, HqServer, hall_cmd, wait_for

ACCOUNT = "3301004277123"  # a 13-digit power account number (户号): no identity, but a long run of digits
PHONE = "075512345678"  # a landline with its area code: 12 digits


def _record(**form: Any) -> dict[str, Any]:
    body = {
        "v": 1,
        "id": "R20261130-0001",
        "hall": "demo-001",
        "day": "2026-11-30",
        "n": 1,
        "form": {"fields": [{"key": k, "value": v} for k, v in form.items()]},
        "customer": {"kind": "id", "hash": "ab" * 32, "masked": "1101**********002X"},
    }
    return seal(body, genesis("demo-001", "2026-11-30"))


def _by_hand(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "digest"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()


def test_a_signed_record_with_long_numbers_goes_up_as_signed() -> None:
    record = _record(account=ACCOUNT, phone=PHONE)
    event = {"seq": 7, "topic": "record.signed", "data": record}
    assert scrub(event) is event
    assert _by_hand(record) == record["digest"] and verify([record]) == []
    # the same numbers in any other event are masked as before
    other = scrub({"seq": 8, "topic": "repair.requested", "data": {"account": ACCOUNT}})
    assert other["data"]["account"] != ACCOUNT


def test_an_id_number_in_a_signed_record_is_masked_and_hq_sees_it_changed() -> None:
    record = _record(account=ACCOUNT, note=f"证件 {CUSTOMER[1]}")  # a record the core would never have built
    sent = scrub({"seq": 7, "topic": "record.signed", "data": record})["data"]
    assert CUSTOMER[1] not in json.dumps(sent, ensure_ascii=False)
    assert [p["problem"] for p in verify([sent])] == ["changed: its content does not match its digest"]


def test_a_record_whose_digest_does_not_hold_is_scrubbed_as_any_event() -> None:
    record = {**_record(account=ACCOUNT), "digest": "0" * 64}
    sent = scrub({"seq": 7, "topic": "record.signed", "data": record})["data"]
    assert sent["form"]["fields"][0]["value"] != ACCOUNT


def test_hq_removed_and_reordered_records_are_named() -> None:
    first = _record(account=ACCOUNT)
    second = seal(
        {**{k: v for k, v in first.items() if k not in ("prev", "digest")}, "id": "R2", "n": 2}, first["digest"]
    )
    third = seal(
        {**{k: v for k, v in first.items() if k not in ("prev", "digest")}, "id": "R3", "n": 3}, second["digest"]
    )
    assert verify([third, first, second]) == []  # held in any order: checked by day and number
    problems = verify([first, third])
    assert [(p["id"], p["problem"]) for p in problems] == [
        ("R3", "record 2 of the day is missing"),
        ("R3", "chain broken: it does not follow the record before it"),
    ]
    assert {p["hall"] for p in problems} == {"demo-001"}


@pytest.mark.process
@pytest.mark.parametrize("hq_db", ["sqlite"], indirect=True)
def test_hq_holds_records_that_verify(sync_core: CoreProcess, hq: HqServer) -> None:
    cred = hq.add_hall("demo-001")
    hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(sync_core.home.root)})
    with (
        BusClient("test", endpoints=Endpoints.local(sync_core.home), timeout=5.0) as bus,
        HqClient(cred) as client,
    ):
        customer_at_counter(bus, sync_core.home)
        for _ in range(3):
            values = {**name_change_values(sync_core.home), "account": ACCOUNT, "phone": PHONE}
            form = bus.request("form.push", {"counter": "2", "form": "name_change", "values": values})
            bus.request("form.confirm", {"form_id": form["id"]})
            bus.request("form.sign", {"form_id": form["id"], "signature": signature()})
        agent = AgentProcess(sync_core.home).start()
        try:
            head = bus.request("hall.ping")["seq"]
            wait_for(lambda: client.status()["held"] == head, 30, "the records to reach HQ")
        finally:
            agent.stop()
    store = hq.store()
    try:
        held = [e["data"] for e in store.events("demo-001", 0, 5000) if e["topic"] == "record.signed"]
    finally:
        store.close()
    assert [r["n"] for r in held] == [1, 2, 3]
    assert {f["value"] for r in held for f in r["form"]["fields"] if f["key"] in ("account", "phone")} == {
        ACCOUNT,
        PHONE,
    }
    assert verify(held) == []
    changed = {**held[1], "staff": "someone else"}
    assert [(p["n"], p["problem"]) for p in verify([held[0], changed])] == [
        (2, "changed: its content does not match its digest")
    ]
    assert records_verify(hq) == (0, "3 signed record(s) of 1 hall(s): all intact")

    # someone with write access to HQ's database changes one record and removes another
    ids = [r["id"] for r in held]
    db = sqlite3.connect(hq.db)
    try:
        rows = db.execute("SELECT seq, data FROM events WHERE topic = 'record.signed' ORDER BY seq").fetchall()
        first = json.loads(rows[0][1])
        first["form"]["fields"] = [
            {**f, "value": "3301004277999"} if f["key"] == "account" else f for f in first["form"]["fields"]
        ]
        with db:
            db.execute("UPDATE events SET data = ? WHERE seq = ?", (json.dumps(first, ensure_ascii=False), rows[0][0]))
            db.execute("DELETE FROM events WHERE seq = ?", (rows[1][0],))
    finally:
        db.close()
    code, out = records_verify(hq, "--hall", "demo-001", "--day", held[0]["day"])
    day = held[0]["day"]
    assert code == 1
    assert out.splitlines() == [
        f"2 signed record(s) of 1 hall(s), {day}: 2 broken",
        f"  demo-001 {day} {ids[0]} (#1, seq {rows[0][0]}): changed: its content does not match its digest",
        f"  demo-001 {day} {ids[2]} (#3, seq {rows[2][0]}): record 2 of the day is missing",
        f"  demo-001 {day} {ids[2]} (#3, seq {rows[2][0]}): chain broken: it does not follow the record before it",
    ]
    code, out = records_verify(hq, "--json")
    report = json.loads(out)
    assert (code, report["records"], report["broken"]) == (1, 2, 2)
    problems = [(p["id"], p["seq"], p["problem"].split(":")[0]) for p in report["problems"]]
    assert problems == [
        (ids[0], rows[0][0], "changed"),
        (ids[2], rows[2][0], "record 2 of the day is missing"),
        (ids[2], rows[2][0], "chain broken"),
    ]


def records_verify(hq: HqServer, *args: str) -> tuple[int, str]:
    """``hall hq records verify ARGS…`` on the server's store: its exit code and output."""
    out = subprocess.run(
        [sys.executable, "-m", "edge", "hq", "records", "verify", *args, *hq.store_args()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stderr == ""
    return out.returncode, out.stdout.rstrip("\n")


def test_hq_checks_a_halls_records_day_by_day_and_names_the_one_changed(tmp_path: Path) -> None:
    """1,200 records over three days (more than a page of the store's reads); one changed in the store."""
    from sync.hq import records
    from sync.hq.store import open_store

    store = open_store(str(tmp_path / "hq.db"), key_file=tmp_path / "hq.key")
    try:
        store.add_hall("demo-001", bytes(32))
        events, seq = [], 0
        for day in ("2026-11-28", "2026-11-29", "2026-11-30"):
            prev = genesis("demo-001", day)
            for n in range(1, 401):
                seq += 1
                record = seal({"v": 1, "id": f"R{day.replace('-', '')}-{n:04d}", "hall": "demo-001", "day": day,
                               "n": n, "form": {"account": ACCOUNT}}, prev)  # fmt: skip
                prev = record["digest"]
                events.append({"v": 1, "id": f"e{seq}", "ts": f"{day}T09:00:00.000+08:00", "source": "core",
                               "topic": "record.signed", "data": record, "seq": seq})  # fmt: skip
        store.ingest("demo-001", "records", 0, seq, events, now=1_800_000_000.0)
        assert records.verify(store)["ok"] and records.verify(store)["records"] == 1200
        with sqlite3.connect(tmp_path / "hq.db") as db:  # someone edits one record where HQ keeps it
            data = json.loads(db.execute("SELECT data FROM events WHERE seq = 555").fetchone()[0])
            data["form"]["account"] = "3301004277999"
            db.execute("UPDATE events SET data = ? WHERE seq = 555", (json.dumps(data),))
        report = records.verify(store)
        assert (report["records"], report["broken"]) == (1200, 1)
        assert [(p["day"], p["id"], p["n"], p["seq"], p["problem"]) for p in report["problems"]] == [
            ("2026-11-29", "R20261129-0155", 155, 555, "changed: its content does not match its digest")
        ]
        assert records.verify(store, day="2026-11-30") == {
            "halls": 1, "day": "2026-11-30", "records": 400, "broken": 0, "problems": [], "ok": True,
        }  # fmt: skip
    finally:
        store.close()
