"""``hall run`` and ``hall demo`` as real process trees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.paths import Home
from edge.supervisor import Supervisor

pytestmark = pytest.mark.process


def _ping(home: Home, attempts: int = 80) -> dict[str, object]:
    with BusClient("test", endpoints=Endpoints.local(home), timeout=0.25, retries=0) as bus:
        for _ in range(attempts):
            try:
                reply: dict[str, object] = bus.request("hall.ping")
                return reply
            except BusError:
                continue
    raise AssertionError("no core answered")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_run_restarts_a_killed_core_and_stops_everything_on_ctrl_c(hall_home: Home) -> None:
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    log_path = hall_home.root / "run.log"
    with open(log_path, "w") as log_file:
        sup = subprocess.Popen([sys.executable, "-m", "edge", "run", "--only", "core"], env=env, stderr=log_file)
    try:
        first = _ping(hall_home)
        os.kill(int(str(first["pid"])), signal.SIGKILL)
        second = _ping(hall_home)
        while second["pid"] == first["pid"]:
            second = _ping(hall_home)
        assert second["pid"] != first["pid"]
        sup.send_signal(signal.SIGINT)
        assert sup.wait(20) == 0
        assert not _alive(int(str(second["pid"])))
    finally:
        if sup.poll() is None:
            sup.kill()
    log = log_path.read_text()
    assert "core exited with status -9; restarting" in log
    assert "stopped" in log


def test_restarts_are_bounded(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    crasher = [sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x'); raise SystemExit(3)"]
    sup = Supervisor([], dict(os.environ), {"crasher": crasher}, max_restarts=3, base_delay=0.01)
    sup.children[0].start(sup.env)
    deadline = time.monotonic() + 30
    while not sup.children[0].given_up and time.monotonic() < deadline:
        sup._watch()
        time.sleep(0.02)
    sup.stop_all()
    assert sup.children[0].given_up
    assert marker.read_text() == "xxx"


def test_demo_runs_the_hall_with_simulated_customers(hall_home: Home) -> None:
    from tests.busutil import connected, wait_event

    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    log = (hall_home.root / "demo.log").open("w+")
    demo = subprocess.Popen(
        [sys.executable, "-m", "edge", "demo", "--speed", "600"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        _ping(hall_home)
        with (
            BusClient("test", endpoints=Endpoints.local(hall_home)) as bus,
            connected(bus, hall_home, ["ticket."]) as sub,
        ):
            finished = wait_event(sub, "ticket.finished", timeout=120)
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode == 0
    assert "取号 " in out and "叫号 请" in out
    assert f"办结 {finished['data']['number']}" in out
    log.seek(0)
    said = log.read()
    log.close()
    assert "started pad" in said and "pad exited" not in said, said  # counter 2's pad ran until the end


def test_demo_lines_are_readable() -> None:
    from edge.supervisor import describe

    assert describe({"topic": "door.crossed", "data": {"direction": "in", "source": "ir:main"}}).endswith(
        "客流 进  [ir:main]"
    )
    assert describe({"topic": "ticket.serving", "data": {}}) is None
    garbled = describe({"topic": "ticket.issued", "data": {"number": "A001"}})
    assert garbled is not None and "ticket.issued" in garbled
