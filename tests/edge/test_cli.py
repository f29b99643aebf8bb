"""The ``hall`` command line against a real core: the stable --json contract, errors, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.bus import BusClient, Endpoints
from edge.cli.main import BUILTINS, services
from edge.paths import Home
from tests.conftest import CoreProcess


def hall(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(home.root)}
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, env=env, timeout=60)


def hall_json(home: Home, *args: str) -> object:
    res = hall(home, *args, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_every_command_has_help(hall_home: Home) -> None:
    top = hall(hall_home, "--help")
    assert top.returncode == 0
    for name in [*BUILTINS, *services()]:
        assert name in top.stdout
        res = hall(hall_home, name, "--help")
        assert res.returncode == 0, f"hall {name} --help failed: {res.stderr}"
        assert "usage:" in res.stdout


def test_ticket_and_counter_commands(core: CoreProcess, hall_home: Home) -> None:
    t = hall_json(hall_home, "ticket", "issue", "A")
    assert isinstance(t, dict)
    fields = ("number", "business", "state", "people_ahead", "counters_open", "wait_minutes")
    assert {k: t[k] for k in fields} == {
        "number": "A001",
        "business": "A",
        "state": "issued",
        "people_ahead": 0,
        "counters_open": 0,
        "wait_minutes": None,  # no counter is open: no estimate, not "0 minutes"
    }
    assert t["wait_minutes_after_opening"] == 0
    vip = hall_json(hall_home, "ticket", "issue", "A", "--priority", "vip", "--customer", "id:110101199003071234:张三")
    assert isinstance(vip, dict)
    assert vip["priority"] == "vip" and vip["customer"]["masked"] == "1101**********1234"
    assert "110101199003071234" not in json.dumps(vip)
    hall_json(hall_home, "counter", "open", "1", "--staff", "王芳")
    called = hall_json(hall_home, "counter", "call", "1")
    assert isinstance(called, dict) and called["number"] == "A002" and called["rule"] == "fair_ratio"
    listed = hall_json(hall_home, "ticket", "list", "--state", "issued")
    assert isinstance(listed, list) and [x["number"] for x in listed] == ["A001"]
    assert {"number", "business", "state"} <= set(listed[0])
    shown = hall_json(hall_home, "ticket", "show", "A002")
    assert isinstance(shown, dict) and shown["calls"][0]["passed"][0]["number"] == "A001"
    hall_json(hall_home, "counter", "finish", "1")
    hall_json(hall_home, "ticket", "evaluate", "A002", "5")
    status = hall_json(hall_home, "status")
    assert isinstance(status, dict) and status["businesses"][0]["waiting"] == 1
    assert [b["green_channel"] for b in status["businesses"]] == [True, True, True, False]
    # people in the hall with no beam or camera: the queue alone, one waiting ticket × 1.2 (σ = 1 + 0.3·1.2)
    assert status["occupancy"]["sources"] == [{"name": "queue", "people": 1.2, "sigma": 1.4}]
    assert "people in the hall: 1 ± 1 (queue 1.2)" in hall(hall_home, "status").stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("ticket", "issue", "Z"), 1, "no business 'Z'"),
        (("ticket", "issue", "a"), 2, "business"),
        (("counter", "call", "1"), 1, "counter 1 is closed"),
        (("ticket", "show", "A999"), 1, "no ticket A999"),
        (("frobnicate",), 2, "unknown command"),
    ],
)
def test_errors_go_to_stderr_with_non_zero_exit(
    core: CoreProcess, hall_home: Home, args: tuple[str, ...], code: int, message: str
) -> None:
    res = hall(hall_home, *args)
    assert res.returncode == code
    assert message in res.stderr
    assert res.stdout == ""


def test_no_core_is_a_clear_error(hall_home: Home) -> None:
    res = hall(hall_home, "ticket", "list")
    assert res.returncode == 1
    assert "no reply from the core" in res.stderr


def test_events_tail_replays_and_follows(core: CoreProcess, hall_home: Home) -> None:
    hall_json(hall_home, "ticket", "issue", "B")
    hall_json(hall_home, "ticket", "issue", "C")
    res = hall(hall_home, "events", "tail", "--topic", "ticket.", "--since", "0", "--count", "2")
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert [(e["topic"], e["data"]["number"]) for e in lines] == [("ticket.issued", "B001"), ("ticket.issued", "C001")]
    assert lines[0]["seq"] < lines[1]["seq"]


def test_help_loads_no_heavy_library(hall_home: Home) -> None:
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "edge", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert res.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines() if "|" in line}
    heavy = {"zmq", "pydantic", "sqlite3", "numpy", "cv2", "kivy", "fastapi", "uvicorn", "matplotlib"}
    heavy |= {"statsmodels", "pandas", "scipy", "ortools", "pyworkforce", "chinese_calendar"}
    assert not imported & heavy, f"hall --help imported {sorted(imported & heavy)}"


def _issue_many(home: Home, business: str, n: int) -> None:
    """``n`` tickets sent back to back on one socket (the core batches them), every reply awaited."""
    import zmq

    from edge import envelope

    sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(home.requests_endpoint)
    try:
        for _ in range(n):
            sock.send(envelope.encode(envelope.make("ticket.issue", {"business": business}, source="test")))
        for _ in range(n):
            assert sock.poll(10_000)
            assert envelope.parse(sock.recv())["data"]["ok"]
    finally:
        sock.close()


def test_ticket_list_follows_every_page(core: CoreProcess, hall_home: Home) -> None:
    _issue_many(hall_home, "A", 1203)
    listed = hall_json(hall_home, "ticket", "list")
    assert isinstance(listed, list)
    assert [t["number"] for t in listed] == [f"A{n:03d}" for n in range(1, 1204)]
    human = hall(hall_home, "ticket", "list", "--state", "issued")
    assert human.returncode == 0 and len(human.stdout.splitlines()) == 1203


def _with_closed_stdout(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``hall ARGS`` with stdout a pipe nobody reads any more (as ``| head`` leaves it)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = {**os.environ, "HALL_HOME": str(home.root)}
        return subprocess.run(
            [sys.executable, "-m", "edge", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=60,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("ticket", "list", "--json"),
        ("config", "defaults"),
        ("--help",),
        ("history", "export"),
        ("records", "list", "--json"),  # a command another package registers
    ],
    ids=" ".join,
)
def test_a_closed_pipe_ends_a_command_quietly(core: CoreProcess, hall_home: Home, args: tuple[str, ...]) -> None:
    res = _with_closed_stdout(hall_home, *args)
    assert (res.returncode, res.stderr) == (141, "")


def test_events_tail_says_when_no_core_answers(hall_home: Home) -> None:
    res = hall(hall_home, "events", "tail", "--timeout", "0.5")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        f"hall: the core is not answering at {hall_home.requests_endpoint} (is `hall core` running?)"
    )


def test_events_tail_follow_waits_for_the_core_and_catches_up(hall_home: Home) -> None:
    env = {**os.environ, "HALL_HOME": str(hall_home.root)}
    args = ["events", "tail", "--follow", "--since", "0", "--topic", "ticket.", "--count", "1"]
    argv = [sys.executable, "-m", "edge", *args]
    tail = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    core = CoreProcess(hall_home)
    try:
        assert tail.stderr is not None
        assert tail.stderr.readline().startswith(
            f"hall events: the core is not answering at {hall_home.requests_endpoint}"
        )
        core.start()
        with BusClient("test", endpoints=Endpoints.local(hall_home)) as bus:
            issued = bus.request("ticket.issue", {"business": "D"})
        out, err = tail.communicate(timeout=30)
        assert tail.returncode == 0, err
        (line,) = out.splitlines()
        assert json.loads(line)["data"]["id"] == issued["id"]
        assert "the core answers again" in err
    finally:
        tail.kill()
        tail.communicate()
        core.stop()


def test_ticket_show_gives_the_times_on_the_halls_clock(hall_home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/Los_Angeles")  # the box's zone; the hall's is Asia/Shanghai
    core = CoreProcess(hall_home).start()
    try:
        hall_json(hall_home, "ticket", "issue", "A")
        hall_json(hall_home, "counter", "open", "1")
        hall_json(hall_home, "counter", "call", "1")
        shown = hall_json(hall_home, "ticket", "show", "A001")
        human = hall(hall_home, "ticket", "show", "A001")
    finally:
        core.stop()
    assert isinstance(shown, dict) and human.returncode == 0, human.stderr
    called = datetime.fromisoformat(shown["calls"][0]["at"])  # exact, with its offset
    issued = datetime.fromisoformat(shown["issued_at"])
    shanghai, los_angeles = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/Los_Angeles")
    assert f"issued {issued.astimezone(shanghai):%Y-%m-%d %H:%M:%S}" in human.stdout
    assert f"at {called.astimezone(shanghai):%Y-%m-%d %H:%M:%S}: fifo" in human.stdout
    assert f"{called.astimezone(los_angeles):%H:%M:%S}" not in human.stdout
    assert "+00:00" not in human.stdout
