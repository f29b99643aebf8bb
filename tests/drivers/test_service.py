"""``hall devices`` as a real process in demo mode, next to a real ``hall core``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.config import DevicesConfig
from drivers.printer.sim import SimulatedPrinter
from edge import config
from edge.bus import BusClient, Endpoints, Subscriber
from edge.errors import ConfigError
from edge.paths import Home
from tests.conftest import CoreProcess
from tests.fulldisk import hall_on_a_full_disk

pytestmark = pytest.mark.process


class DevicesProcess:
    def __init__(self, home: Path) -> None:
        self.log = home / "devices.log"
        env = {**os.environ, "HALL_HOME": str(home), "HALL_DEMO": "1"}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edge", "devices"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


def wait_for(sub: Subscriber, pred: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        env = sub.recv(timeout=max(0.01, deadline - time.monotonic()))
        if env is not None and pred(env):
            return env
    raise AssertionError("expected event did not arrive")


@pytest.fixture
def devices(core: CoreProcess) -> Iterator[tuple[DevicesProcess, Subscriber]]:
    sub = Subscriber(["printer.", "device.", "door."], endpoints=Endpoints.local(core.home))
    proc = DevicesProcess(core.home.root)
    try:
        wait_for(
            sub,
            lambda e: e["topic"] == "device.health" and e["data"]["device"] == "printer" and e["data"]["state"] == "ok",
        )
        yield proc, sub
    finally:
        code = proc.stop()
        sub.close()
        assert code == 0, proc.log.read_text()[-3000:]


def test_kiosk_ticket_is_printed_and_paper_out_is_reported(
    devices: tuple[DevicesProcess, Subscriber], bus: BusClient, core: CoreProcess
) -> None:
    _, sub = devices
    ticket = bus.request("ticket.issue", {"business": "A", "channel": "kiosk"})
    printed = wait_for(sub, lambda e: e["topic"] == "printer.printed")
    assert printed["data"] == {"ticket_id": ticket["id"], "number": ticket["number"]}
    folder = core.home.root / "printer"
    assert (folder / "ticket-0001.png").stat().st_size > 1000
    text = (folder / "ticket-0001.txt").read_text(encoding="utf-8")
    assert ticket["number"] in text.split("\n") and "电费缴纳" in text

    bus.request(
        "event.publish",
        {"topic": "device.simulate", "data": {"device": "printer", "paper_out": True}, "durable": False},
    )
    fault = wait_for(sub, lambda e: e["topic"] == "device.health" and e["data"]["state"] == "fault")
    assert fault["data"]["device"] == "printer" and "paper_out" in fault["data"]["detail"]
    second = bus.request("ticket.issue", {"business": "A", "channel": "kiosk"})  # the core keeps issuing
    failed = wait_for(sub, lambda e: e["topic"] == "printer.failed")
    assert failed["data"] == {"ticket_id": second["id"], "number": second["number"], "reason": "paper_out"}
    assert bus.request("ticket.show", {"number": second["number"]})["state"] == "issued"
    assert not (folder / "ticket-0002.png").exists()
    # The fault was logged durably (for HQ); the printed/failed notices were not.
    logged = [e["topic"] for e in bus.request("events.since", {"seq": 0, "prefix": "printer."})]
    assert logged == []
    health = bus.request("events.since", {"seq": 0, "prefix": "device.health"})
    assert any(e["data"]["device"] == "printer" and e["data"]["state"] == "fault" for e in health)


def test_a_unit_that_cannot_start_is_a_fault_and_tried_again_while_the_others_work(
    core: CoreProcess, bus: BusClient
) -> None:
    core.home.secret_path.write_text("not a key\n")  # the card readers key customer references with it
    sub = Subscriber(["printer.", "device."], endpoints=Endpoints.local(core.home))
    proc = DevicesProcess(core.home.root)
    try:
        wanted = {"idcard": "fault", "printer": "ok"}
        seen: dict[str, Any] = {}

        def both(e: dict[str, Any]) -> bool:  # the two reports come in either order
            if e["topic"] == "device.health" and wanted.get(e["data"]["device"]) == e["data"]["state"]:
                seen.setdefault(e["data"]["device"], e)
            return len(seen) == len(wanted)

        wait_for(sub, both)
        fault = seen["idcard"]
        assert "secret key" in fault["data"]["detail"] and str(core.home.secret_path) in fault["data"]["detail"]
        assert fault["data"]["counters"]["start_failures"] >= 1
        ticket = bus.request("ticket.issue", {"business": "A", "channel": "kiosk"})
        printed = wait_for(sub, lambda e: e["topic"] == "printer.printed")
        assert printed["data"]["number"] == ticket["number"]
        core.home.secret_path.unlink()  # the technician removes the damaged file: a new key is made
        started = wait_for(
            sub,
            lambda e: (
                e["topic"] == "device.health" and e["data"]["device"] == "idcard" and e["data"]["state"] != "fault"
            ),
        )
        assert "cannot start" not in started["data"]["detail"]
        assert proc.proc.poll() is None
    finally:
        code = proc.stop()
        sub.close()
    assert code == 0, proc.log.read_text()[-3000:]


def test_survives_a_core_restart(devices: tuple[DevicesProcess, Subscriber], core: CoreProcess) -> None:
    proc, _ = devices
    core.kill9()
    core.start()
    sub = Subscriber(["printer."], endpoints=Endpoints.local(core.home))
    with BusClient("test", endpoints=Endpoints.local(core.home), timeout=3.0, retries=2) as bus:
        number = None
        for _ in range(20):  # the devices' subscription reconnects by itself; issue until it prints
            bus.request("ticket.issue", {"business": "B", "channel": "kiosk"})
            env = sub.recv(timeout=1.0)
            if env is not None:
                number = env["data"]["number"]
                break
        assert number is not None and number.startswith("B")
    sub.close()
    assert proc.proc.poll() is None


def _simulate(bus: BusClient, sub: Subscriber, ref: str, **data: object) -> dict[str, Any]:
    bus.request("event.publish", {"topic": "device.simulate", "data": {**data, "ref": ref}, "durable": False})
    return wait_for(sub, lambda e: e["topic"] == "device.simulated" and e["data"]["ref"] == ref)["data"]


def _state(sub: Subscriber, device: str, states: tuple[str, ...]) -> dict[str, Any]:
    return wait_for(
        sub, lambda e: e["topic"] == "device.health" and e["data"]["device"] == device and e["data"]["state"] in states
    )["data"]


def test_demo_cables_pulled_and_put_back_are_reported_and_cleared(
    devices: tuple[DevicesProcess, Subscriber], bus: BusClient
) -> None:
    proc, sub = devices
    ack = _simulate(bus, sub, "r1", device="idcard", unplugged=True, colour="red")
    assert ack == {"device": "idcard", "change": {"unplugged": True}, "ref": "r1"}
    assert _state(sub, "idcard", ("offline", "fault"))["state"] in ("offline", "fault")
    _simulate(bus, sub, "r2", device="idcard", unplugged=False)
    assert _state(sub, "idcard", ("ok",))["counters"]["reopens"] >= 1

    _simulate(bus, sub, "r3", device="printer", unplugged=True)
    assert "ttyESCPOS" in _state(sub, "printer", ("offline",))["detail"]
    _simulate(bus, sub, "r4", device="printer", unplugged=False)
    _state(sub, "printer", ("ok",))
    ticket = bus.request("ticket.issue", {"business": "A", "channel": "kiosk"})
    printed = wait_for(sub, lambda e: e["topic"] == "printer.printed")
    assert printed["data"]["number"] == ticket["number"]

    # a wrong value is refused in the log, with nothing changed and no answer; noise on the pins is answered
    bus.request(
        "event.publish", {"topic": "device.simulate", "data": {"device": "ir", "wild_s": "lots"}, "durable": False}
    )
    assert _simulate(bus, sub, "r5", device="ir", wild_s=1.5)["change"] == {"wild_s": 1.5}
    assert proc.proc.poll() is None
    assert "wild_s must be seconds between 0 and 60, not 'lots'" in proc.log.read_text()


def test_config_section_is_validated_with_its_line() -> None:
    text = '[services.devices.printer]\nurl = "tcp://10.0.0.5:9100"\npaper = 57\n'
    with pytest.raises(ConfigError, match=r"x.toml:3: services.devices.printer.paper"):
        config.load_text(text, "x.toml")
    bad_qr = '[services.devices.printer]\nqr_url = "https://q/{nummer}"\n'
    with pytest.raises(ConfigError, match=r"unknown placeholder \{nummer\}"):
        config.load_text(bad_qr, "x.toml")
    pins = '[services.devices.gpio.lights]\nsegments = { entry = "GPIO5" }\npaths = { "1" = ["entry"] }\n'
    with pytest.raises(ConfigError, match="pin GPIO5 is used twice"):
        config.load_text(pins, "x.toml")
    cfg = config.service_config(
        config.load_text("[services.devices.printer]\npaper = 58\n", "x.toml"), "devices", DevicesConfig
    )
    assert cfg.printer.paper == 58 and cfg.gpio.pin_factory == "mock"


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(home)}
    env.pop("HALL_DEMO", None)
    return subprocess.run(
        [sys.executable, "-m", "edge", "devices", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_list_shows_devices_and_their_last_health(
    devices: tuple[DevicesProcess, Subscriber], core: CoreProcess
) -> None:
    out = run_cli(core.home.root, "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["device"]: r for r in json.loads(out.stdout)}
    assert set(rows) >= {"printer", "ir", "lights", "voice"}
    assert rows["printer"]["target"] == "sim://pty" and rows["printer"]["state"] == "ok"


def test_printer_test_prints_on_a_network_printer(tmp_path: Path, hall_home: Home) -> None:
    sim = SimulatedPrinter(tmp_path / "out", paper=58)
    port = sim.serve_tcp()
    try:
        out = run_cli(hall_home.root, "printer", "test", "--url", f"tcp://127.0.0.1:{port}", "--paper", "58", "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == {"url": f"tcp://127.0.0.1:{port}", "status": ["ok"], "printed": True}
        assert sim.wait_pages(1, 10) and "T000" in sim.pages[0].text
        sim.set_state(cover_open=True)
        out = run_cli(hall_home.root, "printer", "test", "--url", f"tcp://127.0.0.1:{port}", "--json")
        assert out.returncode == 1 and json.loads(out.stdout)["status"] == ["cover_open", "offline"]
    finally:
        sim.close()
    refused = run_cli(hall_home.root, "printer", "test", "--url", "tcp://127.0.0.1:1")
    assert refused.returncode == 1 and "cannot connect to printer tcp://127.0.0.1:1" in refused.stderr


def test_self_tests_of_voice_and_lights(hall_home: Home) -> None:
    voice = run_cli(hall_home.root, "test", "voice", "--json")
    assert voice.returncode == 0, voice.stderr
    assert Path(json.loads(voice.stdout)["wav"]).stat().st_size > 10_000
    lights = run_cli(hall_home.root, "test", "lights", "--json")
    assert lights.returncode == 0, lights.stderr
    assert json.loads(lights.stdout)["lit"] == [
        "entry",
        "left",
        "right",
        "back",
        "lamp:1",
        "lamp:2",
        "lamp:3",
        "lamp:4",
    ]


class Recorder:
    """A unit that acts on ticket events by remembering them (as the printer would print them)."""

    name = "recorder"
    topics = ("ticket.issued",)

    def __init__(self) -> None:
        self.numbers: list[str] = []

    def on_event(self, env: dict[str, Any]) -> None:
        self.numbers.append(env["data"]["number"])


def test_a_ticket_missed_on_the_bus_is_handled_once_from_the_log(core: CoreProcess) -> None:
    from drivers.service import Context, DevicesService

    hall = config.load()
    ctx = Context(hall, DevicesConfig(), core.home.root, demo=False)
    rec = Recorder()
    ctx.consumers.append(rec)
    with BusClient("test", endpoints=Endpoints.local(core.home)) as bus:
        bus.request("ticket.issue", {"business": "A"})  # before the service: not its business
        service = DevicesService(ctx, [], lambda *a, **k: None, bus)
        service.start_cursors()
        first = bus.request("ticket.issue", {"business": "A"})
        second = bus.request("ticket.issue", {"business": "B"})
        # the live copy of the second arrives; the first was lost on the way
        live = bus.request("events.since", {"seq": 0, "prefix": "ticket.issued"})[-1]
        service.receive(live)
        service.catch_up()
        service.catch_up()
        service.receive(live)
    assert sorted(rec.numbers) == sorted([first["number"], second["number"]])


def test_what_devices_say_while_the_disk_is_full_reaches_the_log_once_space_returns(small_disk: Path) -> None:
    from drivers.service import Outbox
    from tests.drivers.conftest_cards import wait_until

    with hall_on_a_full_disk(small_disk) as hall:
        outbox = Outbox(BusClient("devices", endpoints=Endpoints.local(hall.home), timeout=2.0, retries=0))
        try:
            outbox.start()
            outbox("device.health", {"device": "idcard", "state": "offline", "detail": "unplugged"}, durable=True)
            outbox("door.crossed", {"direction": "in", "source": "ir:main"}, durable=False)
            outbox("device.health", {"device": "idcard", "state": "ok", "detail": ""}, durable=True)
            assert wait_until(lambda: outbox.deferred >= 2, 20), "the core never refused the outbox's event"
            hall.free()
            assert wait_until(lambda: not outbox.items, 30)
            logged = [
                e["data"]["state"] for e in hall.bus.request("events.since", {"seq": 0, "prefix": "device.health"})
            ]
            assert logged == ["offline", "ok"]  # in order, each once
            assert outbox.sent == 3 and outbox.dropped == 0  # the door count, not logged, needed no room
        finally:
            outbox.stop()
            outbox.bus.close()
