"""The console attacked from its serial line: a flood of wrong passwords, a huge line, line noise, a line
that drops while a bad change is being tried."""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Callable

import pytest

from tests.console.conftest import TECH, Hall, Technician, audit_rows, wait_for

pytestmark = pytest.mark.process

WRONG = "用户名或密码错误".encode()


def logins(hall: Hall) -> list[tuple[bool, str]]:
    return [
        (bool(r["ok"]), json.loads(r["detail"]).get("reason", ""))
        for r in audit_rows(hall)
        if r["action"] == "console.login"
    ]


def test_a_flood_of_wrong_passwords_gets_one_try_per_wait(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    tech = technician_factory(hall)
    tech.expect("login: ")
    tech.send(b"".join(b"%s\r guess-%04d\r" % (TECH[0].encode(), i) for i in range(300)))  # a script, typing ahead
    tech.expect(WRONG)
    tech.expect("login: ")  # after the wait, which dropped the other 299 tries
    assert logins(hall) == [(False, "wrong")]
    tech.send(TECH[0] + "\r")
    tech.expect("password: ")
    tech.send(TECH[1] + "\r")
    tech.expect("logs you out.")
    assert logins(hall) == [(False, "wrong"), (True, "")]
    shipped = wait_for(lambda: len(hall.events("audit.recorded")) >= 2 and hall.events("audit.recorded"))
    assert len(shipped) == 2  # the hall's log holds two rows, not three hundred


def test_a_huge_line_and_line_noise_before_and_after_sign_in(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    tech = technician_factory(hall)
    tech.expect("login: ")
    tech.send(b"a" * 1_000_000 + b"\r")  # a megabyte without a line end: kept to 1,024 characters
    tech.expect("password: ")
    tech.send(b"x\r")
    tech.expect("用户名最长 64 个字符")
    tech.expect("login: ")
    noise = random.Random(13).randbytes(64 * 1024)  # a terminal at the wrong speed, a loose wire
    tech.send(noise)
    tech.line.expect([WRONG, "用户名最长".encode()])
    assert len(logins(hall)) == 2  # the rest of the noise is dropped with the wait that follows
    tech.login(*TECH, answer_probe=True)  # a VT100: prompt_toolkit reads what follows

    tech.send(b"y" * 1_000_000 + b"\r")
    tech.expect("no command 'yyyy")
    tech.expect(tech.prompt)
    tech.send(noise[:16384].replace(b"\x04", b"") + b"\x03")  # (a Ctrl-D in it would sign out, as it should)
    tech.send(b"\x03\x15services\r")
    tech.expect("managed by hall run", timeout=60)
    tech.expect(tech.prompt)
    assert tech.proc.poll() is None
    assert hall.ping()["hall"] == "console-01"
    unknown = [r for r in audit_rows(hall) if r["action"] == "console.unknown"]
    assert unknown and all(len(json.loads(r["detail"])["command"]) <= 64 for r in unknown)


def test_a_line_that_drops_while_a_bad_change_is_tried_still_gets_it_rolled_back(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    tech = technician_factory(hall)
    tech.login(*TECH)
    good = hall.config.read_text()
    with socket.socket() as taken:  # the core cannot bind a port another program holds
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        tech.send(f'config set bus.tcp_requests "tcp://127.0.0.1:{taken.getsockname()[1]}"\r')
        tech.expect("restarting core…")
        os.close(tech.master)  # the USB adapter is pulled while the core tries the change
        os.close(tech.slave)
        tech.master = tech.slave = -1
        assert tech.proc.wait(120) == 1
    assert hall.config.read_text() == good
    wait_for(lambda: hall.ping(), what="the core runs on the good config")
    core = next(s for s in hall.services() if s["name"] == "core")
    assert core["state"] == "running" and core["ready"]
    changed = next(r for r in audit_rows(hall) if r["action"] == "console.config.set")
    detail = json.loads(changed["detail"])
    assert not changed["ok"] and detail["outcome"] == "rolled_back" and detail["error"].startswith("line gone")
