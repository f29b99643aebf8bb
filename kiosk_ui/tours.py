"""What both apps' ``--tour OUTDIR`` share: a hall of their own, card taps, numbered PNG shots.

A tour runs a ``hall core`` in a temporary HALL_HOME with the demo config and
drives its app by touch the way a customer would; events the devices service
would send (card taps, printer outcomes) arrive through ``event.publish`` on
the bus, as they do in the hall.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.paths import Home
from kiosk_ui.errors import KioskError

WIDTH, HEIGHT = 1280, 800


def start_core(home: Home) -> subprocess.Popen[bytes]:
    """A ``hall core`` for ``home``, answering pings."""
    env = {**os.environ, "HALL_HOME": str(home.root)}
    env.pop("HALL_CONFIG", None)
    log = open(home.root / "core.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "edge", "core"], env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    with BusClient("tour", endpoints=Endpoints.local(home), timeout=0.25, retries=0) as bus:
        for _ in range(120):
            if proc.poll() is not None:
                raise KioskError(f"the tour's core exited: {(home.root / 'core.log').read_text()[-1000:]}")
            try:
                bus.request("hall.ping")
                return proc
            except BusError:
                continue
    proc.kill()
    raise KioskError("the tour's core did not answer")


@contextmanager
def hall(width: int = WIDTH, height: int = HEIGHT) -> Iterator[tuple[Home, subprocess.Popen[bytes]]]:
    """A temporary hall with its core running and Kivy prepared for a ``width`` × ``height`` window."""
    from kiosk_ui import boot

    root = Path(tempfile.mkdtemp(prefix="kt", dir="/tmp"))  # short: ipc socket paths are limited
    home = Home(root).ensure()
    os.environ["HALL_HOME"] = str(root)
    core = start_core(home)
    try:
        boot.prepare(root / "kivy", width=width, height=height, fullscreen=False, headless=not boot.has_display())
        yield home, core
    finally:
        if core.poll() is None:
            core.terminate()
            core.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def card_event(home: Home, *, name: str, number: str, elderly: bool) -> dict[str, Any]:
    """``card.id.read`` data as the devices service publishes it for a resident ID card."""
    from edge.identity import Keyring

    ref = Keyring.load(home.customer_keys_path, home.secret_path).ref("id", number, name=name)
    return {
        "reader": "idcard",
        "customer": ref.to_dict(),
        "card_type": "resident",
        "name_masked": ref.name_masked,
        "sex": "1",
        "elderly": elderly,
    }


class Shots:
    """Numbered PNG files of ``root`` in ``outdir``: ``01-attract.png``, ``02-businesses.png``, …"""

    def __init__(self, root: Any, outdir: Path) -> None:
        self.root = root
        self.outdir = outdir
        self.paths: list[Path] = []

    def __call__(self, name: str, ready: Callable[[], Any], what: str) -> None:
        """Wait until ``ready()`` (naming ``what`` if it never is), then take the picture ``name``."""
        from kiosk_ui.drive import pump, snapshot, until

        until(ready, what=what)
        pump(0.2)
        self.paths.append(snapshot(self.root, self.outdir / f"{len(self.paths) + 1:02d}-{name}.png"))
