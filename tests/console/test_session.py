"""The console as a technician meets it on the serial line: sign-in, commands, terminals, idle logout, hang-up."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.console.conftest import MANAGER, STAFF, TECH, Hall, Technician, audit_rows, wait_for

pytestmark = pytest.mark.process


def test_sign_in_refuses_wrong_passwords_and_other_roles_and_shows_nothing_of_the_hall_before(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory(extra="\n[services.console]\nsign_in_delay_s = 0.5\n")
    tech = technician_factory(hall)
    tech.expect("login: ")
    tech.send(TECH[0] + "\r")
    tech.expect("password: ")
    tech.send("Copper-Wren-0000\r")
    tech.expect("用户名或密码错误")
    tech.expect("login: ")
    tech.send(STAFF[0] + "\r")
    tech.expect("password: ")
    tech.send(STAFF[1] + "\r")
    tech.expect("this account is not a technician's or a manager's")
    answers = []  # the panel's rules: 5 free wrong passwords per name at this port, then each try waits
    while not answers or answers[-1] != 1:
        tech.expect("login: ")
        tech.send(TECH[0] + "\r")
        tech.expect("password: ")
        tech.send("Copper-Wren-0000\r")
        answers.append(tech.line.expect(["用户名或密码错误".encode(), "尝试过于频繁".encode()]))
        tech.seen += bytes(tech.line.before) + bytes(tech.line.after)
        assert len(answers) < 9, "never slowed down"
    assert answers[:4] == [0, 0, 0, 0]  # with the first one: five free tries
    before = tech.seen
    assert b"console-01" not in before and "测试营业厅".encode() not in before
    assert TECH[1].encode() not in before and STAFF[1].encode() not in before  # passwords are not echoed
    shown = tech.login(*MANAGER)
    assert b"(manager)" in shown and b"hall console-01" in shown
    tech.send("logout\r")
    tech.expect("logged out")

    rows = audit_rows(hall)
    logins = [(r["name"], r["action"], bool(r["ok"]), json.loads(r["detail"])) for r in rows]
    assert logins[0][:3] == (TECH[0], "console.login", False) and logins[0][3]["reason"] == "wrong"
    assert logins[1][:3] == (STAFF[0], "console.login", False) and logins[1][3]["reason"] == "role"
    reasons = [r[3]["reason"] for r in logins[2 : 2 + len(answers)]]
    assert reasons == [["wrong", "throttled"][a] for a in answers]
    assert logins[2 + len(answers)][:3] == (MANAGER[0], "console.login", True)
    assert all(r["ip"] == f"serial:{tech.port}" for r in rows)
    # shipped to the hall's log, as the panel's actions are
    n = 3 + len(answers)  # sign-in tries, then the logout
    shipped = wait_for(
        lambda: len(hall.events("audit.recorded")) >= n + 1 and hall.events("audit.recorded"), what="audit"
    )
    assert [e["data"]["action"] for e in shipped] == ["console.login"] * n + ["console.logout"]
    assert shipped[n - 1]["data"]["name"] == MANAGER[0] and shipped[n - 1]["data"]["ok"]


def test_each_command_answers_on_a_dumb_terminal(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician], tmp_path: Path
) -> None:
    hall = hall_factory(
        extra='\n[services.kiosk]\ntechnician_pin_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaA"\n'
    )
    tech = technician_factory(hall)
    shown = tech.login(*TECH)
    assert b"dumb terminal 80x24" in shown  # nobody answered the cursor-position question

    status = tech.run("status")
    assert "hall     console-01 测试营业厅" in status
    assert "queues   A 0 · B 0 · C 0 · D 0" in status
    assert "counters 0 of 4 open" in status
    assert "services (hall run) core running" in status
    assert "HQ       not linked yet" in status

    services = tech.run("services")
    core = next(line for line in services.splitlines() if line.startswith("core"))
    assert "running" in core and str(hall.ping()["pid"]) in core and core.rstrip().endswith("serving hall console-01")

    devices = tech.run("devices")
    assert "printer" in devices and "no health reported" in devices  # configured, but no devices service runs

    sync = tech.run("sync")
    assert "records" in sync and "last ack never" in sync

    clock = tech.run("time")
    assert "(Asia/Shanghai)" in clock and "source" in clock

    network = tech.run("network")
    assert "lo " in network and "127.0.0.1/8" in network and "HQ       not configured" in network

    shown_config = tech.run("config show queue.max_recalls")
    assert "queue.max_recalls = 3" in shown_config
    secret = tech.run("config show services.kiosk")
    assert "services.kiosk.technician_pin_hash = (secret)" in secret and "argon2" not in secret
    assert "ok (hall console-01, 4 businesses, 4 counters)" in tech.run("config check")

    logs = tech.run("logs core --lines 20")
    assert "core of hall console-01 serving" in logs

    assert "no command 'reboot'" in tech.run("reboot")
    assert "usage: restart SERVICE" in tech.run("restart")

    with open(hall.home.root / "log" / "core.log", "a", encoding="utf-8") as log:  # as a careless handler logs
        log.write(
            "2026-06-01 10:00:00,000 hall.core INFO card 11010519491231002X, mobile 13800138000, token=EJG7-L4BN\n"
        )
    bundle_dir = tmp_path / "stick"
    said = tech.run(f"diag {bundle_dir}")
    assert "safe to remove the stick" in said
    (bundle,) = bundle_dir.glob("hall-diag-console-01-*.tar.gz")
    with tarfile.open(bundle) as tar:
        names = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix(): m for m in tar.getmembers()}
        texts = {n: tar.extractfile(m).read().decode() for n, m in names.items()}  # type: ignore[union-attr]
    assert {"versions.json", "config/hall.toml", "services.json", "logs/core.log", "sync.json"} <= set(texts)
    assert 'technician_pin_hash = "(secret)"' in texts["config/hall.toml"]
    assert "# the test hall" in texts["config/hall.toml"]  # the file as written, comments kept
    assert not any("aGFzaA" in t for t in texts.values())
    assert "card 110105********002X, mobile 138****8000, token=(secret)" in texts["logs/core.log"]
    assert not any("19491231" in t or "00138000" in t or "EJG7" in t for t in texts.values())
    assert json.loads(texts["versions.json"])["hall"]

    tech.send("logout\r")
    tech.expect("logged out")
    tech.expect("login: ")
    actions = [r["action"] for r in audit_rows(hall)]
    for command in (
        "status",
        "services",
        "devices",
        "sync",
        "time",
        "network",
        "config.show",
        "logs",
        "diag",
        "restart",
    ):
        assert f"console.{command}" in actions
    failed = next(r for r in audit_rows(hall) if r["action"] == "console.restart")
    assert not failed["ok"]


def test_a_vt100_terminal_gets_history_and_completion(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory()
    tech = technician_factory(hall)
    shown = tech.login(*TECH, answer_probe=True)
    assert b"vt100 terminal 100x30" in shown
    # prompt_toolkit redraws the line at each key: wait for what the command prints, not for the prompt
    tech.send("time\r")
    tech.expect("source")
    tech.send(b"\x1b[A")  # Up: the last command again
    tech.expect("time")
    tech.send("\r")
    tech.expect("source")
    tech.send("stat\x03")  # Ctrl-C abandons the line, and the session goes on
    tech.send("time\r")
    tech.expect("source")
    tech.send("serv\t")  # Tab completes the command
    tech.expect("services")
    tech.send("\r")
    tech.expect("managed by hall run")
    tech.expect(tech.prompt)
    tech.send(b"\x04")  # Ctrl-D on an empty line
    tech.expect("logged out")
    tech.expect("login: ")


def test_an_idle_session_logs_out(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    hall = hall_factory(extra="\n[services.console]\nidle_timeout_s = 2\n")
    tech = technician_factory(hall)
    tech.login(*TECH)
    tech.expect("idle for 2 s: logged out")
    tech.expect("login: ")
    logout = [json.loads(r["detail"]) for r in audit_rows(hall) if r["action"] == "console.logout"]
    assert logout == [{"reason": "idle"}]


def test_a_line_that_goes_away_ends_the_console(
    hall_factory: Callable[..., Hall], technician_factory: Callable[[Hall], Technician]
) -> None:
    import os

    hall = hall_factory()
    tech = technician_factory(hall)
    tech.login(*TECH)
    os.close(tech.master)
    os.close(tech.slave)
    tech.master = tech.slave = -1
    assert tech.proc.wait(20) == 1  # systemd starts it again on the port
    logout = [json.loads(r["detail"]) for r in audit_rows(hall) if r["action"] == "console.logout"]
    assert logout == [{"reason": "hangup"}]
