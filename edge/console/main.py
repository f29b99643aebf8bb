"""``hall console --serial PORT``: serve the technicians' console on a serial port (or a pty).

    hall console --serial /dev/ttyS0          # the box's UART, 115200 8N1
    hall console --serial /dev/ttyGS0         # the USB gadget port
    hall console --serial rfc2217://10.0.0.5:4000 --baud 9600

The port is served until the line goes away (a USB adapter pulled, a pty
closed): the command then exits with status 1 and systemd starts it again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall console", description="Serve the technicians' console on a serial port.")
    p.add_argument("--serial", required=True, metavar="PORT", help="/dev/ttyS0, /dev/ttyGS0, any pyserial URL")
    p.add_argument("--baud", type=int, help="speed (default from [services.console], else 115200)")
    p.add_argument("--config", help="hall config file (TOML); default: $HALL_CONFIG, else $HALL_HOME/hall.toml")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from edge import config
    from edge.console.settings import ConsoleSettings
    from edge.console.shell import Console
    from edge.console.terminal import Hangup, Terminal
    from edge.errors import HallError
    from edge.panel.accounts import Store
    from edge.panel.settings import PanelSettings
    from edge.panel.signin import Rules, SignIn
    from edge.paths import Home
    from edge.proc import set_title

    set_title(f"hall console {a.serial}")
    home = Home.from_env()
    chosen = a.config or os.environ.get("HALL_CONFIG")
    config_path = Path(chosen).absolute() if chosen else home.config_path
    try:
        home.ensure()
        cfg = config.load(config_path if config_path.exists() else None)
        settings = config.service_config(cfg, "console", ConsoleSettings)
        panel = config.service_config(cfg, "panel", PanelSettings)
        store = Store(str(home.root / "panel.db"))
        port = open_port(a.serial, a.baud or settings.baudrate)
    except HallError as exc:
        print(f"hall console: {exc}", file=sys.stderr)
        return 2
    rules = Rules(
        free_failures=panel.lockout_failures,
        address_free_failures=panel.address_failures,
        max_delay_s=panel.lockout_minutes * 60,
        slots=1,  # one technician at a time on one port
    )
    term = Terminal(port, a.serial).start()
    console = Console(term, home, settings, config_path, SignIn(store, rules))
    logging.getLogger("hall.console").info("console on %s (%s baud)", a.serial, a.baud or settings.baudrate)
    try:
        console.serve()
    except Hangup as exc:
        logging.getLogger("hall.console").warning("line gone: %s", exc)
        return 1
    finally:
        term.close()
        store.close()
    return 0


def open_port(url: str, baudrate: int) -> object:
    """The port at ``url`` (8N1, no flow control), read with a short timeout so the reader can stop."""
    import serial

    from edge.console.terminal import ConsoleError

    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.2, write_timeout=10, exclusive=True)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ConsoleError(f"cannot open {url}: {exc}") from exc
