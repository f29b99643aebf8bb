"""``hall kiosk``: the customers' touch kiosk.

    hall kiosk                    full screen on the display (offscreen when there is none)
    hall kiosk --tour OUTDIR      render every screen and state to PNG files, no display needed
    hall kiosk --hash-pin         read a technician PIN on stdin, print its hash for the config

Without a display the kiosk runs offscreen (see :mod:`kiosk_ui.launch`); it
still answers card taps and rating requests on the bus. With ``HALL_DEMO=1`` it
also applies the sample HQ bundle (``sample_bundle.json``) when the hall has none.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
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
        from kiosk_ui.launch import hash_pin

        return hash_pin("hall kiosk")
    faulthandler.enable()
    try:
        if args.tour:
            from kiosk_ui.kiosk import tour

            paths = tour.run(Path(args.tour))
            print("\n".join(str(p) for p in paths))
            return 0
        return _run(windowed=args.windowed)
    except HallError as exc:
        print(f"hall kiosk: {exc}", file=sys.stderr)
        return 2 if exc.code == "config" else 1


def _run(*, windowed: bool) -> int:
    from edge.proc import start
    from kiosk_ui import launch
    from kiosk_ui.kiosk.config import KioskConfig

    started = start("hall kiosk", None, "kiosk", KioskConfig)
    hall, cfg, home = started.config, started.settings, started.home

    def make_app() -> Any:
        from kiosk_ui.kiosk.kiosk import Kiosk
        from kiosk_ui.kivyapp import HallApp

        return HallApp(
            "Smart Hall kiosk",
            "kiosk",
            lambda link, on_exit: Kiosk(cfg, hall, link, on_exit=on_exit),
        )

    window = launch.Window(cfg.width, cfg.height, cfg.fullscreen and not windowed)
    demo = os.environ.get("HALL_DEMO") == "1"
    return launch.run("hall kiosk", home, window, make_app, before=(lambda: _demo_bundle(home)) if demo else None)


def _demo_bundle(home: Any) -> None:
    from edge.bus import BusClient
    from kiosk_ui.sample import load_sample

    try:
        with BusClient("kiosk", timeout=3.0, retries=2) as bus:
            if load_sample(bus, home):
                log.info("applied the sample HQ bundle for the demo")
    except HallError as exc:
        log.warning("sample bundle not applied: %s", exc)
