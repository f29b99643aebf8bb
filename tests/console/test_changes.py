"""What a technician changes from the console: config (applied, refused, rolled back), restarts, device tests, logs."""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import sqlite3
from collections.abc import Callable

import pytest

from edge import control
from edge.bus import BusClient, Endpoints
from tests.console.conftest import TECH, Hall, Technician, wait_for

pytestmark = pytest.mark.process


def test_config_set_is_applied_refused_or_rolled_back(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    tech = technician_factory(hall)
    tech.login(*TECH)
    first = hall.ping()["pid"]

    said = tech.run("config set queue.max_recalls 5")
    assert "core is up with queue.max_recalls = 5" in said
    assert "max_recalls = 5" in hall.config.read_text() and "# the test hall" in hall.config.read_text()
    second = hall.ping()["pid"]
    assert second != first  # restarted to apply it
    assert "queue.max_recalls = 5" in tech.run("config show queue.max_recalls")

    refused = tech.run("config set queue.max_recalls 99")
    assert "queue.max_recalls: Input should be less than or equal to 10" in refused
    assert "hall.toml:" in refused  # the file and line
    assert "max_recalls = 5" in hall.config.read_text()
    assert hall.ping()["pid"] == second  # nothing restarted for a refused value

    # a value the config accepts but the core cannot run with: the port belongs to another program
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        good = hall.config.read_text()
        said = tech.run(f'config set bus.tcp_requests "tcp://127.0.0.1:{port}"')
    assert "core did not come up with the change" in said
    assert "rolled back" in said and "core runs" in said
    assert hall.config.read_text() == good
    assert f"tcp://127.0.0.1:{port}" in (hall.config.parent / "hall.toml.failed").read_text()  # kept for a look
    assert hall.ping()["pid"] not in (first, second)  # running again, on the good config
    services = {s["name"]: s for s in hall.services()}
    assert services["core"]["state"] == "running" and services["core"]["ready"]

    # a change under way from another port holds the lock: this one waits its turn, nothing written
    lock = os.open(hall.config.parent / ".hall.toml.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert "another `config set` is under way" in tech.run("config set queue.max_recalls 4")
    finally:
        os.close(lock)
    assert hall.config.read_text() == good

    db = sqlite3.connect(hall.home.root / "panel.db")
    rows = db.execute("SELECT detail, ok FROM audit WHERE action = 'console.config.set' ORDER BY id").fetchall()
    db.close()
    outcomes = [(json.loads(d).get("outcome"), bool(ok)) for d, ok in rows]
    assert outcomes == [("applied", True), (None, False), ("rolled_back", False), (None, False)]


def test_restart_logs_and_a_device_test_through_the_running_devices_service(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory("core,devices", demo=True)  # demo: a simulated printer on a pty, mock GPIO pins
    tech = technician_factory(hall)
    tech.login(*TECH)

    said = tech.run("devices test printer")
    assert "through the devices service" in said
    assert "printer: PASS · test ticket T000 printed" in said
    assert list((hall.home.root / "printer").glob("*.png"))  # the simulated printer rendered it
    assert "lights: PASS · path to counter" in tech.run("devices test lights")
    assert "FAIL · no device 'scanner' runs here" in tech.run("devices test scanner")
    devices = tech.run("devices")
    printer = next(line for line in devices.splitlines() if line.startswith("printer"))
    assert " ok " in printer

    before = next(s["pid"] for s in hall.services() if s["name"] == "devices")
    assert "devices is up again" in tech.run("restart devices")
    after = next(s["pid"] for s in hall.services() if s["name"] == "devices")
    assert after != before

    tech.send("logs core --follow --lines 1\r")
    tech.expect("-- following")
    control.ask(control.socket_path(hall.home.run_dir), {"cmd": "restart", "service": "core"}, timeout=60)
    tech.expect("core of hall console-01 serving", timeout=60)  # the restarted core's first line, as it came
    tech.send(b"\x03")
    tech.expect("-- stopped --")
    tech.expect(tech.prompt)
    wait_for(lambda: hall.ping(), what="core answers")


def test_the_ops_service_is_known_restarted_and_reconfigured_like_the_others(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory("core,ops")  # waits until ops, too, said READY=1
    tech = technician_factory(hall)
    tech.login(*TECH)
    status = tech.run("status")
    assert "services (hall run) core running, ops running" in status
    assert "plan     no staffing plan for today" in status  # a new hall has no history to plan from
    with BusClient("test", endpoints=Endpoints.local(hall.home), timeout=3.0) as bus:  # as ops saves one
        day = bus.request("queue.status")["day"]
        rows = [{"start": f"{day}T09:00", "counters": 2}, {"start": f"{day}T09:30", "counters": 3}]
        bus.request("plan.save", {"kind": "day", "key": day, "basis": "test", "data": {"rows": rows}})
    assert re.search(
        r"plan     today's staffing plan saved \d+s ago: 2 slots, up to 3 counters open", tech.run("status")
    )
    ops = next(line for line in tech.run("services").splitlines() if line.startswith("ops"))
    assert "running" in ops and "yes" in ops and ops.rstrip().endswith("planning for hall console-01")

    before = next(s["pid"] for s in hall.services() if s["name"] == "ops")
    said = tech.run("config set services.ops.service_level 0.9")
    assert "restarting ops…" in said and "ops is up with services.ops.service_level = 0.9" in said
    after = next(s for s in hall.services() if s["name"] == "ops")
    assert after["pid"] != before and after["ready"]
    assert "service_level = 0.9" in hall.config.read_text()
    refused = tech.run("config set services.ops.service_level 2")
    assert "services.ops.service_level" in refused and "less than" in refused  # validated by OpsConfig
    assert next(s["pid"] for s in hall.services() if s["name"] == "ops") == after["pid"]


def test_a_pad_setting_restarts_every_pad_unit_and_nothing_else(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory(pads="2,3")  # as hall-pad@2 and hall-pad@3 under systemd
    tech = technician_factory(hall)
    tech.login(*TECH)
    before = {s["name"]: s["pid"] for s in hall.services()}
    assert set(before) == {"core", "pad@2", "pad@3"}
    said = tech.run("config set services.pad.form_timeout_s 600", timeout=120)
    assert "restarting pad@2…" in said and "restarting pad@3…" in said, said
    assert "pad is up with services.pad.form_timeout_s = 600" in said
    after = {s["name"]: s["pid"] for s in hall.services()}
    assert after["pad@2"] not in (None, before["pad@2"]) and after["pad@3"] not in (None, before["pad@3"])
    assert after["core"] == before["core"]  # a pad setting is the pads' alone
    assert "form_timeout_s = 600" in hall.config.read_text()


def test_a_change_a_stopped_console_left_under_way_is_finished_by_the_next(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    journal = hall.config.parent / "hall.toml.changing"
    good = hall.config.read_text()
    with socket.socket() as taken:  # a value the core cannot run with: the port belongs to another program
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        tech = technician_factory(hall)
        tech.login(*TECH)
        tech.send(f'config set bus.tcp_requests "tcp://127.0.0.1:{port}"\r')
        tech.expect("restarting core…")
        tech.proc.kill()  # the console stops in the middle: the change is written, not rolled back
        tech.proc.wait()
        assert journal.exists() and f"tcp://127.0.0.1:{port}" in hall.config.read_text()

        after = technician_factory(hall)  # the next console finishes it before anyone signs in
        after.login(*TECH)
    told = after.seen.decode()
    assert f'at start: `config set bus.tcp_requests "tcp://127.0.0.1:{port}"` was stopped while core restarted' in told
    assert "at start: rolled back" in told and "at start: core runs with the previous config" in told
    assert hall.config.read_text() == good and not journal.exists()
    assert f"tcp://127.0.0.1:{port}" in (hall.config.parent / "hall.toml.failed").read_text()
    assert hall.ping()["pid"]  # the core serves again

    # stopped while a good value is applied: the next console sees it through
    after.send("config set queue.max_recalls 5\r")
    after.expect("restarting core…")
    after.proc.kill()
    after.proc.wait()
    last = technician_factory(hall)
    last.login(*TECH)
    told = last.seen.decode()
    assert "at start: core is up with queue.max_recalls = 5: the change is applied" in told
    assert "max_recalls = 5" in hall.config.read_text() and not journal.exists()
    assert "at start" not in last.run("services")  # said once

    db = sqlite3.connect(hall.home.root / "panel.db")
    rows = db.execute("SELECT detail, ok FROM audit WHERE action = 'console.config.finished' ORDER BY id").fetchall()
    db.close()
    assert [(json.loads(d)["outcome"], bool(ok)) for d, ok in rows] == [("rolled_back", False), ("applied", True)]
