"""``hall pad``: the customer-facing pad of one counter (同屏).

    hall pad --counter 2          full screen on the display (offscreen when there is none)
    hall pad --tour OUTDIR        render each screen to PNG files, no display needed
    hall pad --hash-pin           read a technician PIN on stdin, print its hash for the config

The counter comes from ``--counter`` or ``[services.pad] counter``. A pad runs in
the display session of the screen facing the customer (like the kiosk), so
``hall run`` does not start one; over the network it reaches the core like any
remote client (``HALL_BUS_REQUESTS``, ``HALL_BUS_EVENTS``, ``HALL_BUS_KEYS``).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import re
import sys
from pathlib import Path
from typing import Any

from edge.errors import ConfigError, HallError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall pad", description="The customer-facing pad of one counter (Kivy).")
    parser.add_argument("--counter", metavar="ID", help="the counter this pad faces (default: [services.pad] counter)")
    parser.add_argument("--tour", metavar="OUTDIR", help="render each screen to PNG files in OUTDIR")
    parser.add_argument("--hash-pin", action="store_true", help="read a technician PIN on stdin and print its hash")
    parser.add_argument("--windowed", action="store_true", help="run in a window even if the config says full screen")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.hash_pin:
        from kiosk_ui.launch import hash_pin

        return hash_pin("hall pad")
    faulthandler.enable()
    try:
        if args.tour:
            from kiosk_ui.pad import tour

            paths = tour.run(Path(args.tour))
            print("\n".join(str(p) for p in paths))
            return 0
        return _run(args.counter, windowed=args.windowed)
    except HallError as exc:
        print(f"hall pad: {exc}", file=sys.stderr)
        return 2 if exc.code == "config" else 1


def _run(counter: str | None, *, windowed: bool) -> int:
    from edge.proc import start
    from kiosk_ui import launch
    from kiosk_ui.pad.config import PadConfig

    started = start("hall pad", None, "pad", PadConfig)
    hall, cfg, home = started.config, started.settings, started.home
    chosen = counter or cfg.counter
    if chosen is None:
        raise ConfigError("which counter does this pad face? give --counter ID, or set [services.pad] counter")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,16}", chosen):
        raise ConfigError(f"--counter {chosen!r}: a counter id is 1 to 16 letters, digits, '-' or '_'")
    known = [c.id for c in hall.counters]
    if chosen not in known:  # HQ's bundle may add counters: the pad still starts, and says so on screen if not
        logging.getLogger("hall.pad").warning("counter %s is not in the config file (%s)", chosen, ", ".join(known))

    def make_app() -> Any:
        from kiosk_ui.kivyapp import HallApp
        from kiosk_ui.pad.pad import TOPICS, Pad

        return HallApp(
            f"Smart Hall pad {chosen}",
            f"pad-{chosen}",
            lambda link, on_exit: Pad(cfg, hall, link, counter=chosen, on_exit=on_exit),
            topics=TOPICS,
        )

    window = launch.Window(cfg.width, cfg.height, cfg.fullscreen and not windowed)
    return launch.run("hall pad", home, window, make_app)
