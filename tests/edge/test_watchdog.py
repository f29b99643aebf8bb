"""Readiness and the watchdog: the sd_notify protocol as a manager sees it, and ``hall run`` acting on it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import control
from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.paths import Home
from edge.sdnotify import parse
from tests.conftest import ChildProcess

pytestmark = pytest.mark.process


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[socket.socket]:
    """The manager's end: a datagram socket the test owns, as systemd owns NOTIFY_SOCKET."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def _next(sock: socket.socket, key: str, timeout: float) -> dict[str, str] | None:
    """The next notification carrying ``key``, or None if none came within ``timeout``."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            fields = parse(sock.recv(4096))
        except TimeoutError:
            return None
        if key in fields:
            return fields
    return None


def _ping(home: Home, attempts: int = 120) -> dict[str, object]:
    with BusClient("test", endpoints=Endpoints.local(home), timeout=0.25, retries=0) as bus:
        for _ in range(attempts):
            try:
                reply: dict[str, object] = bus.request("hall.ping")
                return reply
            except BusError:
                continue
    raise AssertionError("no core answered")


def test_core_says_ready_and_pings_only_while_its_request_loop_goes_round(
    hall_home: Home, manager: socket.socket, tmp_path: Path
) -> None:
    core = ChildProcess()
    core.log = hall_home.root / "core.log"
    env = {
        **os.environ,
        "HALL_HOME": str(hall_home.root),
        "NOTIFY_SOCKET": manager.getsockname(),
        "WATCHDOG_USEC": "400000",
    }
    core.spawn([sys.executable, "-m", "edge", "core"], env)
    try:
        assert core.proc is not None
        ready = _next(manager, "READY", 30)
        assert ready is not None and ready["MAINPID"] == str(core.proc.pid)
        assert _next(manager, "WATCHDOG", 5) is not None
        # Another program holds the hall database: the next write blocks the request loop (busy_timeout),
        # while the process and its other threads live on. The pings must stop.
        blocker = sqlite3.connect(hall_home.db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        answered = threading.Event()

        def issue() -> None:
            with BusClient("test", endpoints=Endpoints.local(hall_home), timeout=30, retries=0) as bus:
                bus.request("ticket.issue", {"business": "A", "channel": "kiosk"})
            answered.set()

        threading.Thread(target=issue, daemon=True).start()
        _next(manager, "WATCHDOG", 0.3)  # a ping already on its way before the request arrived
        assert _next(manager, "WATCHDOG", 1.5) is None, "pings went on while the request loop was stuck"
        blocker.execute("ROLLBACK")
        blocker.close()
        assert _next(manager, "WATCHDOG", 15) is not None, "pings did not resume"
        assert answered.wait(15)
        assert core.proc.poll() is None
    finally:
        core.stop()


def test_hall_run_aborts_and_restarts_a_core_that_hangs(hall_home: Home) -> None:
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    with open(hall_home.root / "run.log", "w") as out:
        sup = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--only", "core", "--watchdog", "2"], env=env, stderr=out
        )
    try:
        first = int(str(_ping(hall_home)["pid"]))
        sock = control.socket_path(hall_home.run_dir)
        deadline = time.monotonic() + 30
        while not control.ask(sock, {"cmd": "services"})["services"][0]["ready"]:
            assert time.monotonic() < deadline, "core never said it was ready"
            time.sleep(0.1)
        os.kill(first, signal.SIGSTOP)  # alive, answering nothing
        second = first
        deadline = time.monotonic() + 60
        while second == first:
            assert time.monotonic() < deadline, "the hung core was not replaced"
            second = int(str(_ping(hall_home)["pid"]))
        services = control.ask(sock, {"cmd": "services"})["services"]
        assert services[0]["name"] == "core" and services[0]["restarts"] == 1
        assert services[0]["last_exit"] == -signal.SIGABRT
        # and on request, through the control socket, as the console restarts a service
        reply = control.ask(sock, {"cmd": "restart", "service": "core", "timeout": 30}, timeout=40)
        assert reply["ok"] and reply["ready"] and reply["pid"] not in (first, second)
        assert control.ask(sock, {"cmd": "restart", "service": "nope"})["error"].startswith("no service 'nope'")
        sup.send_signal(signal.SIGINT)
        assert sup.wait(20) == 0
    finally:
        if sup.poll() is None:
            sup.kill()
    run_log = (hall_home.root / "run.log").read_text()
    assert "core sent no watchdog ping" in run_log
    core_log = (hall_home.root / "log" / "core.log").read_text()
    assert "Fatal Python error: Aborted" in core_log  # faulthandler: where it hung, for the technician
