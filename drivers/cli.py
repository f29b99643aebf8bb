"""Field commands of ``hall devices``: list the devices, self-test one, print a test ticket.

::

    hall devices list --json                     # configured devices and their last reported health
    hall devices test printer                    # print a test ticket on the configured printer
    hall devices test lights                     # light each lamp and segment in turn
    hall devices test voice                      # speak a test call to a WAV (and play it if configured)
    hall devices test idcard                     # wait for an ID card on the configured reader and read it
    hall devices test iccard                     # wait for an IC card in a matching PC/SC reader
    hall devices printer test --url tcp://192.168.10.20:9100
    hall devices idcard read --port /dev/ttyUSB0 --json   # one card's fields, the number masked

Run these while ``hall devices`` is stopped: a serial port has one owner.
Exit status 0 when the device passed, 1 when it failed, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from drivers.config import DevicesConfig
from drivers.errors import DriverError

if TYPE_CHECKING:
    from edge.config import HallSection

COMMANDS = ("list", "test", "printer", "idcard")
DEVICES = ("printer", "lights", "voice", "idcard", "iccard")


def describe(cfg: DevicesConfig) -> list[dict[str, Any]]:
    """The configured devices, without opening any."""
    out: list[dict[str, Any]] = []
    if cfg.printer.enabled:
        out.append({"device": "printer", "kind": "escpos", "target": cfg.printer.url, "paper_mm": cfg.printer.paper})
    g = cfg.gpio
    if g.enabled:
        beams = [f"{e.name}:{e.outer_pin}/{e.inner_pin}" for e in g.entrances]
        seats = [f"{s.counter}:{s.pin}" for s in g.seats]
        out.append({"device": "ir", "kind": f"gpio-{g.pin_factory}", "target": ", ".join(beams + seats)})
        lights = {**g.lights.segments, **{f"lamp:{c}": p for c, p in g.lights.lamps.items()}}
        out.append(
            {
                "device": "lights",
                "kind": f"gpio-{g.pin_factory}",
                "target": ", ".join(f"{k}:{v}" for k, v in lights.items()),
            }
        )
    if cfg.voice.enabled:
        out.append({"device": "voice", "kind": "espeak-ng", "target": cfg.voice.out_dir or "$HALL_HOME/voice"})
    from drivers.cards import describe_cards

    return out + describe_cards(cfg.idcard, cfg.iccard)


def last_health(timeout: float = 1.0) -> dict[str, dict[str, Any]]:
    """The latest logged ``device.health`` per device, if the core answers; else empty."""
    from edge.bus import BusClient
    from edge.errors import HallError

    latest: dict[str, dict[str, Any]] = {}
    try:
        with BusClient("devices-cli", timeout=timeout, retries=0) as bus:
            seq = 0
            while True:
                batch = bus.request("events.since", {"seq": seq, "prefix": "device.health", "limit": 5000})
                for env in batch:
                    latest[env["data"]["device"]] = {**env["data"], "ts": env["ts"]}
                if len(batch) < 5000:
                    return latest
                seq = batch[-1]["seq"]
    except HallError:
        return latest


def test_ticket(
    printer_url: str, paper: int, hall_name: str, qr_url: str, zone: str = "Asia/Shanghai"
) -> dict[str, Any]:
    """Open ``printer_url``, read its status and, when ready, print a test ticket (its time in the hall's ``zone``)."""
    from drivers.printer import ticket
    from drivers.printer.printer import Printer
    from drivers.printer.transport import open_transport

    printer = Printer(open_transport(printer_url))
    try:
        status = printer.status()
        result: dict[str, Any] = {
            "url": printer_url,
            "status": "unknown" if status is None else (status.problems or ["ok"]),
        }
        if status is not None and not status.ready:
            result["printed"] = False
            return result
        data = ticket.TicketData(
            hall_name,
            "打印测试 TEST",
            "T000",
            0,
            0,
            datetime.now(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M"),
            ticket_id="test",
        )
        layout = ticket.Layout(paper=80 if paper == 80 else 58, qr_url=qr_url)
        printer.write(ticket.render(data, layout))
        result["printed"] = True
        return result
    finally:
        printer.close()


def _config(path: str | None) -> tuple[HallSection, DevicesConfig]:
    from edge import config

    hall = config.load(path)
    return hall.hall, config.service_config(hall, "devices", DevicesConfig)


def _self_test(device: str, hall: HallSection, cfg: DevicesConfig, home: Path, timeout: float = 15.0) -> dict[str, Any]:
    if device == "printer":
        url = cfg.printer.url
        sim = None
        if url.startswith("sim://"):
            from drivers.printer.sim import SimulatedPrinter

            sim = SimulatedPrinter(home / "printer", paper=cfg.printer.paper)
            url = "serial://" + sim.serve_pty()
        try:
            result = test_ticket(url, cfg.printer.paper, hall.name, cfg.printer.qr_url, hall.timezone)
            if sim is not None:
                result["rendered"] = sim.wait_pages(1, 10) and str(sim.printed[-1])
            return result
        finally:
            if sim is not None:
                sim.close()
    if device == "lights":
        return _lights_test(cfg)
    if device == "voice":
        from drivers.voice.tts import EspeakEngine
        from drivers.voice.unit import VoiceUnit

        out = Path(cfg.voice.out_dir) if cfg.voice.out_dir else home / "voice"
        unit = VoiceUnit(
            "voice",
            out,
            engine=EspeakEngine(cfg.voice.voice, cfg.voice.speed),
            repeat=1,
            play_command=cfg.voice.play_command,
        )
        return {"wav": str(unit.announce("A001", "1号窗口", "1"))}
    if device == "idcard":
        from drivers.cards import read_id_card

        return read_id_card(cfg.idcard.port, timeout=timeout)
    if device == "iccard":
        from drivers.cards import read_ic_card

        return read_ic_card(cfg.iccard, timeout=timeout)
    raise ValueError(f"no self-test for {device!r} ({', '.join(DEVICES)})")


def _lights_test(cfg: DevicesConfig) -> dict[str, Any]:
    from gpiozero import PWMLED, GPIOZeroError

    factory = None
    if cfg.gpio.pin_factory == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        factory = MockFactory(pin_class=MockPWMPin)
    lights = {**cfg.gpio.lights.segments, **{f"lamp:{c}": p for c, p in cfg.gpio.lights.lamps.items()}}
    lit = []
    for name, pin in lights.items():
        try:
            led = PWMLED(pin, pin_factory=factory)
        except (GPIOZeroError, ValueError) as exc:
            raise DriverError(f"light {name} on {pin}: {exc}") from exc
        try:
            led.value = 1.0
            time.sleep(0.3)  # long enough for a technician to see each light
            led.value = 0.0
            lit.append(name)
        finally:
            led.close()
    return {"lit": lit}


def cli_main(argv: list[str]) -> int:
    """Dispatch ``hall devices list|test|printer …``."""
    from edge.errors import HallError
    from edge.paths import Home

    parser = argparse.ArgumentParser(prog="hall devices", description="Field commands for the hall's devices.")
    parser.add_argument("--config", help="hall config file (TOML); default: embedded demo hall")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="configured devices and their last reported health")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_test = sub.add_parser("test", help="self-test one device (stop hall devices first)")
    p_test.add_argument("device", choices=DEVICES)
    p_test.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a card (card readers)")
    p_test.add_argument("--json", action="store_true", help="machine-readable output")
    p_idcard = sub.add_parser("idcard", help="ID-card reader tools")
    p_idcard_sub = p_idcard.add_subparsers(dest="action", required=True)
    p_read = p_idcard_sub.add_parser("read", help="read one card on the reader at --port (number masked)")
    p_read.add_argument("--port", required=True, help="/dev/ttyUSB0, spy:///dev/ttyUSB0, rfc2217://host:port, …")
    p_read.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for a card")
    p_read.add_argument("--json", action="store_true", help="machine-readable output")
    p_printer = sub.add_parser("printer", help="printer tools")
    p_printer_sub = p_printer.add_subparsers(dest="action", required=True)
    p_ptest = p_printer_sub.add_parser("test", help="print a test ticket on a printer given by URL")
    p_ptest.add_argument(
        "--url", required=True, help="tcp://host:9100, serial:///dev/ttyUSB0, spy://…, usb://VVVV:PPPP"
    )
    p_ptest.add_argument("--paper", type=int, choices=[58, 80], default=80)
    p_ptest.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    try:
        hall, cfg = _config(args.config)
        if args.command == "list":
            health = last_health()
            rows = [
                {**d, **{k: health.get(d["device"], {}).get(k) for k in ("state", "detail", "ts")}}
                for d in describe(cfg)
            ]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            else:
                for r in rows:
                    print(f"{r['device']:<10} {r['kind']:<12} {r['state'] or 'unknown':<9} {r['target']}")
            return 0
        if args.command == "test":
            result = _self_test(args.device, hall, cfg, Home.from_env().ensure().root, args.timeout)
        elif args.command == "idcard":
            from drivers.cards import read_id_card

            result = read_id_card(args.port, timeout=args.timeout)
        else:
            result = test_ticket(args.url, args.paper, hall.name, cfg.printer.qr_url, hall.timezone)
    except (HallError, ValueError) as exc:
        print(f"hall devices: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    print(json.dumps(result, ensure_ascii=False) if getattr(args, "json", False) else _plain(result))
    return 0 if result.get("printed", True) else 1


def _plain(result: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in result.items())
