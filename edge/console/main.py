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
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hall console", description="Serve the technicians' console on a serial port.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", metavar="PORT", help="/dev/ttyS0, /dev/ttyGS0, any pyserial URL")
    where.add_argument(
        "--pty",
        action="store_true",
        help="make a pty and serve it (the demo): a terminal program opens the path printed",
    )
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

    set_title(f"hall console {a.serial or 'pty'}")
    home = Home.from_env()
    chosen = a.config or os.environ.get("HALL_CONFIG")
    config_path = Path(chosen).absolute() if chosen else home.config_path
    saved = None if a.pty else _tty_settings(a.serial)  # a local terminal (/dev/tty) gets its settings back
    try:
        home.ensure()
        cfg = config.load(config_path if config_path.exists() else None)
        settings = config.service_config(cfg, "console", ConsoleSettings)
        panel = config.service_config(cfg, "panel", PanelSettings)
        store = Store(str(home.root / "panel.db"))
        port = PtyPort() if a.pty else open_port(a.serial, a.baud or settings.baudrate)
    except HallError as exc:
        print(f"hall console: {exc}", file=sys.stderr)
        return 2
    rules = Rules(
        free_failures=panel.lockout_failures,
        address_free_failures=panel.address_failures,
        max_delay_s=panel.lockout_minutes * 60,
        slots=1,  # one technician at a time on one port
    )
    label = port.path if isinstance(port, PtyPort) else a.serial
    term = Terminal(port, label).start()
    console = Console(term, home, settings, config_path, SignIn(store, rules))
    if isinstance(port, PtyPort):
        (home.run_dir / "console.pty").write_text(port.path + "\n")
        logging.getLogger("hall.console").info(
            "technicians' console on %s: connect with `%s -m serial.tools.miniterm %s` (or screen, picocom); "
            "sign in with an account made by `HALL_HOME=%s hall users add NAME --role technician`",
            port.path,
            sys.executable,
            port.path,
            home.root,
        )
    else:
        logging.getLogger("hall.console").info("console on %s (%s baud)", a.serial, a.baud or settings.baudrate)
    try:
        console.serve()
    except Hangup as exc:
        logging.getLogger("hall.console").warning("line gone: %s", exc)
        return 1
    finally:
        term.close()
        store.close()
        _restore(saved)
    return 0


def _tty_settings(path: str) -> tuple[str, Any] | None:
    """A local terminal's settings before the port is opened raw (None for a URL, or what is not a tty)."""
    import termios

    if not path.startswith("/"):
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return (path, termios.tcgetattr(fd)) if os.isatty(fd) else None
    except termios.error:
        return None
    finally:
        os.close(fd)


def _restore(saved: tuple[str, Any] | None) -> None:
    import termios

    if saved is None:
        return
    try:
        fd = os.open(saved[0], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        termios.tcsetattr(fd, termios.TCSANOW, saved[1])
    except termios.error:
        pass
    finally:
        os.close(fd)


def open_port(url: str, baudrate: int) -> object:
    """The port at ``url`` (8N1, no flow control), read with a short timeout so the reader can stop."""
    import serial

    from edge.console.terminal import ConsoleError

    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=0.2, write_timeout=10, exclusive=True)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise ConsoleError(f"cannot open {url}: {exc}") from exc


class PtyPort:
    """A new pty whose far end a terminal program opens (``path``); the console serves this end.

    Output nobody reads is dropped after a second rather than blocking the console.
    """

    in_waiting = 0

    def __init__(self) -> None:
        import tty

        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # the far end is a line, not a terminal with echo and line editing
        self.path = os.ttyname(self._slave)
        os.set_blocking(self.master, False)

    def read(self, size: int = 1) -> bytes:
        import select

        ready, _, _ = select.select([self.master], [], [], 0.2)
        if not ready:
            return b""
        try:
            return os.read(self.master, max(size, 4096))
        except BlockingIOError:
            return b""

    def write(self, data: bytes) -> int:
        import select

        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self.master], [], 1.0)
            if not ready:
                break  # nobody reads the far end: the rest is dropped
            view = view[os.write(self.master, view) :]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
