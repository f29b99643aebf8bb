"""``hall kiosk``: the customers' touch kiosk.

    hall kiosk                    full screen on the display (offscreen when there is none)
    hall kiosk --tour OUTDIR      render every screen and state to PNG files, no display needed
    hall kiosk --hash-pin         read a technician PIN on stdin, print its hash for the config

Without a display (no ``DISPLAY``/``WAYLAND_DISPLAY``/``SDL_VIDEODRIVER``), as when
``hall run`` or ``hall demo`` start it on a headless box, the kiosk says so on
stderr and runs offscreen at a low frame rate rather than exiting, so the
supervisor does not restart it in a loop; it still answers card taps and
evaluation requests on the bus. With ``HALL_DEMO=1`` it also applies the sample
HQ bundle (``sample_bundle.json``) when the hall has none.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge.errors import HallError

log = logging.getLogger("hall.kiosk")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall kiosk", description="The customers' touch kiosk (Kivy).")
    parser.add_argument("--tour", metavar="OUTDIR", help="render every screen and state to PNG files in OUTDIR")
    parser.add_argument("--hash-pin", action="store_true", help="read a technician PIN on stdin and print its hash")
    parser.add_argument("--windowed", action="store_true", help="run in a window even if the config says full screen")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.hash_pin:
        return _hash_pin()
    faulthandler.enable()
    try:
        if args.tour:
            from kiosk_ui import tour

            paths = tour.run(Path(args.tour))
            print("\n".join(str(p) for p in paths))
            return 0
        return _run(windowed=args.windowed)
    except HallError as exc:
        print(f"hall kiosk: {exc}", file=sys.stderr)
        return 2 if exc.code == "config" else 1


def _hash_pin() -> int:
    from argon2 import PasswordHasher

    pin = sys.stdin.readline().strip()
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        print("hall kiosk: the technician PIN must be 6 to 12 digits", file=sys.stderr)
        return 2
    print(PasswordHasher().hash(pin))
    return 0


def _run(*, windowed: bool) -> int:
    from edge import config
    from edge.paths import Home
    from kiosk_ui import boot
    from kiosk_ui.config import KioskConfig

    stop_now = threading.Event()
    running: list[Any] = []

    def stop(signum: int, frame: Any) -> None:
        stop_now.set()
        for app in running:
            app.request_stop()

    signal.signal(signal.SIGTERM, stop)  # from the start: a stop during Kivy's start-up is not lost
    signal.signal(signal.SIGINT, stop)
    hall = config.load()
    cfg = config.service_config(hall, "kiosk", KioskConfig)
    home = Home.from_env().ensure()
    headless = not boot.has_display()
    if headless:
        print(
            "hall kiosk: no display (DISPLAY/WAYLAND_DISPLAY unset): running offscreen, nobody can see this kiosk; "
            "use --tour OUTDIR for pictures",
            file=sys.stderr,
        )
    boot.prepare(
        home.root / "kiosk",
        width=cfg.width,
        height=cfg.height,
        fullscreen=cfg.fullscreen and not windowed,
        headless=headless,
    )
    if os.environ.get("HALL_DEMO") == "1":
        _demo_bundle(home)
    _title()
    from kiosk_ui.kivyapp import KioskApp

    app = KioskApp(cfg, hall)
    running.append(app)
    if not stop_now.is_set():
        app.run()
    return 0


def _demo_bundle(home: Any) -> None:
    from edge.bus import BusClient
    from kiosk_ui.sample import load_sample

    try:
        with BusClient("kiosk", timeout=3.0, retries=2) as bus:
            if load_sample(bus, home):
                log.info("applied the sample HQ bundle for the demo")
    except HallError as exc:
        log.warning("sample bundle not applied: %s", exc)


def _title() -> None:
    from edge.proc import set_title

    set_title("hall kiosk")
