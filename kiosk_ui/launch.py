"""Starting a customer-facing app for real: signals, no display, Kivy's set-up, the technician PIN hash.

Without a display (no ``DISPLAY``/``WAYLAND_DISPLAY``/``SDL_VIDEODRIVER``), as when
``hall run`` or ``hall demo`` start it on a headless box, an app says so on
stderr and runs offscreen at a low frame rate rather than exiting, so the
supervisor does not restart it in a loop; it still answers the bus.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.paths import Home


@dataclass(frozen=True)
class Window:
    width: int
    height: int
    fullscreen: bool


def hash_pin(command: str) -> int:
    """Read a technician PIN on stdin and print its argon2id hash for the config."""
    from argon2 import PasswordHasher

    pin = sys.stdin.readline().strip()
    if not (pin.isdigit() and 6 <= len(pin) <= 12):
        print(f"{command}: the technician PIN must be 6 to 12 digits", file=sys.stderr)
        return 2
    print(PasswordHasher().hash(pin))
    return 0


def run(
    command: str,
    home: Home,
    window: Window,
    make_app: Callable[[], Any],
    *,
    before: Callable[[], None] | None = None,
) -> int:
    """Prepare Kivy for ``window`` (offscreen without a display), then run the app ``make_app`` builds.

    ``make_app`` is called after Kivy is prepared (it may import Kivy); ``before``
    runs just before that (the demo's sample bundle, …). SIGTERM and SIGINT stop
    the app at its next frame, even during Kivy's start-up.
    """
    from kiosk_ui import boot

    stop_now = threading.Event()
    running: list[Any] = []

    def stop(signum: int, frame: Any) -> None:
        stop_now.set()
        for app in running:
            app.request_stop()

    signal.signal(signal.SIGTERM, stop)  # from the start: a stop during Kivy's start-up is not lost
    signal.signal(signal.SIGINT, stop)
    headless = not boot.has_display()
    if headless:
        print(
            f"{command}: no display (DISPLAY/WAYLAND_DISPLAY unset): running offscreen, nobody can see this screen; "
            "use --tour OUTDIR for pictures",
            file=sys.stderr,
        )
    boot.prepare(
        Path(home.root) / command.split()[-1],
        width=window.width,
        height=window.height,
        fullscreen=window.fullscreen,
        headless=headless,
    )
    if before is not None:
        before()
    from edge.proc import set_title

    set_title(command)
    app = make_app()
    running.append(app)
    if not stop_now.is_set():
        app.run()
    return 0
