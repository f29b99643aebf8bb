"""Preparing Kivy before its first import: offscreen when there is no display, no ESC exit.

Kivy reads its environment and config when first imported and creates one window
per process, so :func:`prepare` must run before anything imports ``kivy``.
"""

from __future__ import annotations

import os
from pathlib import Path


def has_display() -> bool:
    """Whether an X or Wayland display (or an SDL video driver that shows something) is available."""
    driver = os.environ.get("SDL_VIDEODRIVER", "")
    if driver:
        return driver not in ("offscreen", "dummy")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def prepare(kivy_home: Path, *, width: int, height: int, fullscreen: bool, headless: bool) -> None:
    """Set Kivy's environment and window config; ``headless`` renders offscreen at a low frame rate."""
    kivy_home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(kivy_home))
    os.environ["KIVY_NO_ARGS"] = "1"
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"
    from kivy.config import Config

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "log_level", "warning")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "maxfps", "5" if headless else "30")
    if fullscreen and not headless:
        Config.set("graphics", "fullscreen", "auto")
        Config.set("graphics", "borderless", "1")
        Config.set("graphics", "show_cursor", "0")  # a touch screen: no mouse pointer in the customer's view
    from kiosk_ui.widgets import register_fonts

    register_fonts()
