"""Fixtures for the technicians' console: the hall under ``hall run``, the console on a pty, a technician's keys."""

from __future__ import annotations

import os
import pty
import re
import sqlite3
import subprocess
import sys
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pexpect.fdpexpect
import pytest

from edge import control
from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.panel.accounts import Store
from edge.paths import Home

TECH = ("tech-zhao", "Copper-Wren-9034")
MANAGER = ("mgr-wang", "Lantern-Quay-2718")
STAFF = ("staff-li", "Harbour-Fig-5521")
ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|[78=>])")


def add_users(home: Home) -> None:
    store = Store(str(home.root / "panel.db"))
    try:
        for (name, password), role in ((TECH, "technician"), (MANAGER, "manager"), (STAFF, "staff")):
            store.add_user(name, role, password)
    finally:
        store.close()


class Hall:
    """``hall run --only SERVICES`` for one test, with the test's config; its home and bus."""

    def __init__(self, home: Home, config: Path, services: str, *, demo: bool = False, pads: str = "") -> None:
        self.home = home
        self.config = config
        env = {**os.environ, "HALL_HOME": str(home.root), "HALL_CONFIG": str(config)}
        if demo:
            env["HALL_DEMO"] = "1"
        self.env = env
        self.log = open(home.root / "run.log", "ab")  # noqa: SIM115 - closed in stop()
        argv = [sys.executable, "-m", "edge", "run", "--only", services, "--watchdog", "10"]
        self.proc = subprocess.Popen(argv + (["--pads", pads] if pads else []), env=env, stderr=self.log)
        self.wait_ready(services.split(","))
        self.wait_ready([f"pad@{c}" for c in pads.split(",") if c])

    def services(self) -> list[dict[str, Any]]:
        return list(control.ask(control.socket_path(self.home.run_dir), {"cmd": "services"})["services"])

    def wait_ready(self, names: list[str], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.home.root / "run.log").read_text()[-2000:]
            try:
                # a service without readiness notification (a pad) is up once it runs
                ready = {s["name"] for s in self.services() if s["ready"] or (s["ready"] is None and s["pid"])}
            except control.ControlError:
                ready = set()
            if set(names) <= ready:
                return
            time.sleep(0.1)
        raise AssertionError(f"{names} not ready: {(self.home.root / 'run.log').read_text()[-2000:]}")

    def ping(self) -> dict[str, Any]:
        with BusClient("test", endpoints=Endpoints.local(self.home), timeout=0.5, retries=0) as bus:
            for _ in range(60):
                try:
                    reply: dict[str, Any] = bus.request("hall.ping")
                    return reply
                except BusError:
                    continue
        raise AssertionError("no core answered")

    def events(self, prefix: str) -> list[dict[str, Any]]:
        with BusClient("test", endpoints=Endpoints.local(self.home), timeout=3.0, retries=1) as bus:
            events: list[dict[str, Any]] = bus.request("events.since", {"seq": 0, "prefix": prefix, "limit": 5000})
            return events

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Technician:
    """The other end of the console's serial line: a pty master, driven with pexpect."""

    def __init__(self, hall: Hall) -> None:
        self.hall = hall
        self.master, self.slave = pty.openpty()  # the slave stays open here too: the line never drops by accident
        tty.setraw(self.master)
        self.port = os.ttyname(self.slave)
        self.console_log = open(hall.home.root / "console.log", "ab")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge", "console", "--serial", self.port], env=hall.env, stderr=self.console_log
        )
        self.line = pexpect.fdpexpect.fdspawn(self.master, timeout=30)
        self.transcript = open(hall.home.root / "line.log", "wb")  # noqa: SIM115 - what the technician saw
        self.line.logfile_read = self.transcript
        self.seen = b""
        self.prompt = b"> "

    def expect(self, pattern: bytes | str, timeout: float = 30) -> bytes:
        """Everything shown up to and including ``pattern`` (escape sequences removed)."""
        raw = pattern.encode() if isinstance(pattern, str) else pattern
        self.line.expect(re.escape(raw), timeout=timeout)
        shown = ANSI.sub(b"", bytes(self.line.before) + bytes(self.line.after))
        self.seen += shown
        return shown

    def send(self, keys: bytes | str) -> None:
        self.line.send(keys.encode() if isinstance(keys, str) else keys)

    def login(self, name: str, password: str, *, answer_probe: bool = False) -> bytes:
        shown = self.expect("login: ")
        self.send(name + "\r")
        self.expect("password: ")
        self.send(password + "\r")
        if answer_probe:
            self.expect(b"\x1b[6n")
            self.send(b"\x1b[30;100R")
        shown += self.expect("logs you out.")
        self.prompt = f"@{self.hall_id()}>".encode()
        self.expect(self.prompt)
        return shown

    def hall_id(self) -> str:
        return str(self.hall.ping()["hall"])

    def run(self, command: str, timeout: float = 60) -> str:
        """Type a command; what it printed, up to the next prompt."""
        self.send(command + "\r")
        shown = self.expect(self.prompt, timeout)
        text = shown.decode("utf-8", "replace").replace("\r\n", "\n")
        return text[: -len(self.prompt.decode())]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.console_log.close()
        self.transcript.close()


def write_config(home: Home, extra: str = "") -> Path:
    path = home.root / "hall.toml"
    path.write_text(
        '# the test hall\n[hall]\nid = "console-01"\nname = "测试营业厅"\n\n[queue]\nmax_recalls = 3\n' + extra
    )
    return path


@pytest.fixture
def hall_factory(hall_home: Home) -> Iterator[Callable[..., Hall]]:
    add_users(hall_home)
    halls: list[Hall] = []

    def start(services: str = "core", *, extra: str = "", demo: bool = False, pads: str = "") -> Hall:
        hall = Hall(hall_home, write_config(hall_home, extra), services, demo=demo, pads=pads)
        halls.append(hall)
        return hall

    yield start
    for hall in halls:
        hall.stop()


@pytest.fixture
def technician_factory() -> Iterator[Callable[[Hall], Technician]]:
    made: list[Technician] = []

    def connect(hall: Hall) -> Technician:
        tech = Technician(hall)
        made.append(tech)
        return tech

    yield connect
    for tech in made:
        tech.close()


def audit_rows(hall: Hall) -> list[sqlite3.Row]:
    db = sqlite3.connect(hall.home.root / "panel.db")
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM audit ORDER BY id").fetchall()
    finally:
        db.close()


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout} s")


__all__ = ["MANAGER", "STAFF", "TECH", "Hall", "Technician", "audit_rows", "pexpect", "wait_for"]
