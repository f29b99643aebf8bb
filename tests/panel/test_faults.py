"""The panel when things around it fail: the core killed, the disk full, an old audit row too large to ship."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edge.bus import BusClient
from edge.paths import Home
from tests.conftest import CoreProcess
from tests.panel.busutil import connected, wait_event
from tests.panel.conftest import MANAGER, STAFF, Client, PanelProcess, add_user
from tests.panel.test_store import old_db


def test_a_killed_core_is_said_and_the_panel_recovers(panel: PanelProcess, staff: Client, core: CoreProcess) -> None:
    staff.ok("/api/counters/1/open")
    core.kill9()
    r = staff.get("/api/status")
    assert r.status_code == 503 and r.json()["code"] == "core_down"
    assert "核心服务暂时无响应" in r.json()["error"]
    r = staff.post("/api/counters/1/call")
    assert r.status_code == 503 and "操作未执行" in r.json()["error"]
    again = Client(panel)
    assert again.login(*STAFF).status_code == 200  # signing in needs no core
    assert again.get("/api/me").status_code == 200
    again.close()
    core.start()  # answers pings again
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the panel tries the core again 2 s after its last failure
        r = staff.get("/api/status")
        if r.status_code == 200:
            break
        assert r.json()["code"] == "core_down"
        time.sleep(0.2)  # polling a bounded number of times
    assert r.status_code == 200 and r.json()["counters"][0]["state"] == "open"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs to fill (mounting needs root, as CI runs)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):  # until not even a byte fits
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return filler


def test_a_full_disk_gets_one_sentence_and_reads_keep_serving(small_disk: Path, tmp_path: Path) -> None:
    home = Home(small_disk / "home").ensure()
    core = CoreProcess(home)
    core.log = tmp_path / "core.log"
    core.start()
    for (name, password), role in ((MANAGER, "manager"), (STAFF, "staff")):
        add_user(home, name, role, password)
    panel = PanelProcess(home)
    panel.log = tmp_path / "panel.log"
    panel.start()
    staff, manager = Client(panel), Client(panel)
    try:
        assert staff.login(*STAFF).status_code == 200
        staff.ok("/api/counters/1/open")
        filler = fill(small_disk)
        status = staff.get("/api/status")
        assert status.status_code == 200 and status.json()["counters"][0]["state"] == "open"
        assert staff.get("/api/counters/1").status_code == 200
        refused = manager.login(*MANAGER)
        assert refused.status_code == 503 and "磁盘已满" in refused.json()["error"]
        acted = staff.post("/api/counters/1/pause", {"reason": "午休"})
        assert (
            acted.headers["content-type"] == "application/json" and acted.json()["error"]
        )  # a sentence, not a bare 500
        filler.unlink()
        assert manager.login(*MANAGER).status_code == 200
        trail = manager.get("/api/audit").json()
        held = [a for a in trail if a["action"] == "login" and a["detail"].get("reason") == "storage"]
        assert held and held[0]["name"] == MANAGER[0]  # kept in memory while the disk was full, written after
    finally:
        staff.close()
        manager.close()
        panel.stop()
        core.stop()


def test_a_panel_started_on_a_full_disk_waits_for_room_then_serves(small_disk: Path, tmp_path: Path) -> None:
    home = Home(small_disk / "home").ensure()
    add_user(home, MANAGER[0], "manager", MANAGER[1])
    conn = sqlite3.connect(home.root / "panel.db")  # as a cleanly stopped panel leaves it: no -shm beside it
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    filler = fill(small_disk)
    panel = PanelProcess(home)
    panel.log = tmp_path / "panel.log"
    panel.spawn(
        [
            sys.executable,
            "-m",
            "edge",
            "panel",
            "--host",
            "127.0.0.1",
            "--port",
            str(panel.port),
            "--redirect-port",
            "0",
        ],
        {**os.environ, "HALL_HOME": str(home.root)},
    )
    try:
        deadline = time.monotonic() + 30
        while "waiting for room" not in panel.log.read_text() and time.monotonic() < deadline:
            assert panel.proc is not None and panel.proc.poll() is None, panel.log.read_text()[-2000:]
            time.sleep(0.1)  # polling the log, bounded by the deadline
        assert "磁盘已满" in panel.log.read_text() and "waiting for room" in panel.log.read_text()
        filler.unlink()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with panel.http(timeout=1.0) as client:
                    if client.post("/api/login", json={"name": MANAGER[0], "password": MANAGER[1]}).status_code == 200:
                        break
            except (httpx.TransportError, OSError):
                time.sleep(0.2)  # the port is not open yet
        else:
            raise AssertionError(panel.log.read_text()[-2000:])
    finally:
        panel.stop()


def test_an_old_audit_row_too_large_for_the_bus_is_shipped_cut_and_the_rest_follow(
    core: CoreProcess, bus: BusClient
) -> None:
    old_db(core.home.root / "panel.db", plug=True)  # the panel.db of old, with its 5 MB sign-in name unshipped
    with connected(bus, core.home, ["audit."]) as sub:
        panel = PanelProcess(core.home).start()
        try:
            cut = wait_event(sub, "audit.recorded", lambda d: d["id"] == 6)
            assert len(cut["data"]["name"]) == 64 and cut["data"]["detail"]["truncated"] is True
            client = Client(panel)
            assert client.login(STAFF[0], "Harbour-Fig-5521").status_code == 200  # the old account, as it was
            after = wait_event(sub, "audit.recorded", lambda d: d["action"] == "login" and d["name"] == STAFF[0])
            assert after["data"]["id"] > 6
            client.close()
        finally:
            panel.stop()
    logged = [e["data"]["id"] for e in bus.request("events.since", {"seq": 0, "prefix": "audit."})]
    assert logged[:3] == [4, 5, 6]


def test_users_command_works_on_an_old_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    old_db(home / "panel.db")
    listed = subprocess.run(
        [sys.executable, "-m", "edge", "users", "list"],
        env={**os.environ, "HALL_HOME": str(home)},
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0 and "李娜" in listed.stdout
