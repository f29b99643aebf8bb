"""A full disk and an unusable HALL_HOME: one clear sentence, the right exit status, the queue kept.

Both use real file systems: a size-limited tmpfs (the disk fills up for real, SQLite sees ENOSPC) and a
read-only mount. Mounting needs root; elsewhere the read-only case uses a directory without write
permission instead, and the full-disk case is skipped.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints
from edge.errors import DiskFull
from edge.paths import Home
from edge.storage import Database
from tests.conftest import CoreProcess

pytestmark = pytest.mark.process


def _mount(where: Path, options: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return res.returncode == 0


def _unmount(where: Path) -> None:
    subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def readonly_home(tmp_path: Path) -> Iterator[Path]:
    """A HALL_HOME that cannot be written: on a read-only mount (root), else a directory without write permission."""
    where = tmp_path / "ro"
    if _mount(where, "size=1m,mode=0755"):
        (where / "home").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
        yield where / "home"
        _unmount(where)
    else:
        (where / "home").mkdir()
        where.chmod(0o555)
        (where / "home").chmod(0o555)
        yield where / "home"
        (where / "home").chmod(0o755)
        where.chmod(0o755)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full; the file, to delete to give the space back."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_writes_clearly_serves_reads_and_recovers(small_disk: Path) -> None:
    home = Home(small_disk / "home").ensure()
    core = CoreProcess(home).start()
    try:
        with BusClient("test", endpoints=Endpoints.local(home), timeout=5.0, retries=0) as bus:
            acked = [bus.request("ticket.issue", {"business": "A"})["number"] for _ in range(3)]
            filler = _fill(small_disk)
            refused = None
            for _ in range(2000):  # the log's write-ahead file may have room left from before
                try:
                    acked.append(bus.request("ticket.issue", {"business": "A"})["number"])
                except DiskFull as exc:
                    refused = exc
                    break
            assert refused is not None, "the disk never filled"
            assert "the hall's disk is full: ticket.issue was not saved" in str(refused)
            for _ in range(3):  # still full: refused again, and reads are answered
                with pytest.raises(DiskFull):
                    bus.request("ticket.issue", {"business": "A"})
                status = bus.request("queue.status")
                assert status["businesses"][0]["waiting"] == len(acked)
                assert [t["number"] for t in bus.request("ticket.list", {"limit": 5000})] == acked
            filler.unlink()
            after = bus.request("ticket.issue", {"business": "A"})["number"]
            assert after == f"A{len(acked) + 1:03d}"  # refused tickets took no number
            acked.append(after)
            assert core.proc is not None and bus.request("hall.ping")["pid"] == core.proc.pid  # the same process
    finally:
        core.stop()
    db = Database(home.db_path, readonly=True)
    assert [r[0] for r in db.all("SELECT number FROM tickets ORDER BY seq")] == acked
    db.close()


def _checkpointed(home: Home) -> None:
    """hall.db as a cleanly stopped box leaves it: no write-ahead or shared-memory file beside it."""
    conn = sqlite3.connect(home.db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert not home.db_path.with_name("hall.db-shm").exists()


def test_a_core_started_on_a_full_disk_waits_for_room_then_serves(small_disk: Path) -> None:
    home = Home(small_disk / "home").ensure()
    core = CoreProcess(home).start()
    with BusClient("test", endpoints=Endpoints.local(home), timeout=5.0, retries=0) as bus:
        first = bus.request("ticket.issue", {"business": "A"})["number"]
    core.stop()
    _checkpointed(home)
    filler = _fill(small_disk)
    core = CoreProcess(home)
    core.spawn([sys.executable, "-m", "edge", "core"], {**os.environ, "HALL_HOME": str(home.root)})
    try:
        deadline = time.monotonic() + 30
        while "waiting for room" not in core.log.read_text() and time.monotonic() < deadline:
            assert core.proc is not None and core.proc.poll() is None, core.log.read_text()[-2000:]
            time.sleep(0.1)
        assert "the hall's disk is full: " in core.log.read_text() and "waiting for room" in core.log.read_text()
        filler.unlink()
        core.wait_ready()
        with BusClient("test", endpoints=Endpoints.local(home), timeout=5.0, retries=0) as bus:
            assert bus.request("ticket.issue", {"business": "A"})["number"] == "A002" and first == "A001"
    finally:
        core.stop()


def _hall(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=env, timeout=60, input="pw\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        ("core",),
        ("run", "--only", "core", "--duration", "5"),
        ("demo", "--duration", "5", "--quiet"),
        ("devices",),
        ("panel",),
        ("vision",),
        ("sync",),
        ("kiosk",),
        ("pad", "--counter", "1"),
        ("ops", "--once"),
        ("ticket", "issue", "A", "--customer", "id:110101199003071234"),
        ("users", "add", "boss", "--role", "manager", "--password-stdin"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_unusable_hall_home_is_one_sentence_and_status_2(readonly_home: Path, args: tuple[str, ...]) -> None:
    res = _hall(readonly_home, *args)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert str(readonly_home) in lines[0]
    assert "Read-only file system" in lines[0] or "not writable" in lines[0] or "Permission denied" in lines[0]


@pytest.mark.parametrize("service", ["core", "devices", "panel", "vision", "sync", "kiosk", "pad", "ops"])
def test_a_bad_section_stops_every_service_with_its_line_and_status_2(tmp_path: Path, service: str) -> None:
    section = "hall" if service == "core" else f"services.{service}"
    bad = tmp_path / "hall.toml"
    known = 'id = "h1"\nname = "Hall"\n' if service == "core" else "\n\n"
    bad.write_text(f"[{section}]\n{known}bogus = 1\n", encoding="utf-8")
    env = {**os.environ, "HALL_HOME": str(tmp_path / "home"), "HALL_CONFIG": str(bad)}
    res = subprocess.run([sys.executable, "-m", "edge", service], capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines() == [f"hall {service}: {bad}:4: {section}.bogus: unknown key"], res.stderr
