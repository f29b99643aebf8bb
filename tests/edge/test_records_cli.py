"""``hall records``: list, verify (exit 1 on a changed record) and print a receipt from a shell."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from edge.bus import BusClient
from tests.conftest import CoreProcess
from tests.records_helpers import customer_at_counter, name_change_values, signature

pytestmark = pytest.mark.process


def hall(core: CoreProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(core.home.root)}
    return subprocess.run(
        [sys.executable, "-m", "edge", "records", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_list_verify_and_receipt(bus: BusClient, core: CoreProcess, tmp_path: Path) -> None:
    assert hall(core, "list").stdout.strip() == "no signed records"
    customer_at_counter(bus, core.home)
    form = bus.request("form.push", {"counter": "2", "form": "name_change", "values": name_change_values(core.home)})
    bus.request("form.confirm", {"form_id": form["id"]})
    record = bus.request("form.sign", {"form_id": form["id"], "signature": signature()})
    listed = hall(core, "list", "--json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [record["id"]]
    ok = hall(core, "verify")
    assert ok.returncode == 0 and ok.stdout.strip() == f"{record['day']}: 1 record(s), all intact"

    out = tmp_path / "receipt.pdf"
    printed = hall(core, "receipt", record["id"], "--out", str(out))
    assert printed.returncode == 0 and out.read_bytes().startswith(b"%PDF")
    assert hall(core, "receipt", "R20261130-9999", "--out", str(out)).returncode == 1  # no such record

    with sqlite3.connect(core.home.db_path) as conn:
        conn.execute("UPDATE records SET body = replace(body, '3301004277', '3301004278')")
    bad = hall(core, "verify")
    assert bad.returncode == 1
    assert f"{record['id']} (#1): changed: its content does not match its digest" in bad.stdout
