"""Driving the kiosk by touch without a person: the tour and the tests use it.

A :class:`Touch` goes through Kivy's input queue exactly as a touchscreen's does
(``post_dispatch_input``), so the widget under the finger gets it the usual way::

    tap(kiosk, "attract.take")
    until(lambda: kiosk.screen == "businesses", what="the business tiles")
    stroke(pad, "sign.box", [(0.1, 0.5), (0.2, 0.3), (0.3, 0.6)])   # handwriting, top left is (0, 0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kivy.base import EventLoop
from kivy.input.motionevent import MotionEvent
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk_ui.errors import KioskError

_ids = iter(range(1000, 10**9))


class Touch(MotionEvent):
    """One finger at window coordinates (x, y), with a pressure (0–1) when the screen reports one."""

    def __init__(self, x: float, y: float, pressure: float | None = None) -> None:
        win = EventLoop.window
        super().__init__(
            "kiosk-touch",
            next(_ids),
            {"x": x / (win.width - 1.0), "y": y / (win.height - 1.0), "pressure": pressure},
            is_touch=True,
            type_id="touch",
        )

    def depack(self, args: dict[str, Any]) -> None:
        self.sx, self.sy = args["x"], args["y"]
        self.profile = ["pos"]
        if args.get("pressure") is not None:
            self.pressure = float(args["pressure"])
            self.profile.append("pressure")
        super().depack(args)

    def move_to(self, x: float, y: float, pressure: float | None = None) -> None:
        win = EventLoop.window
        self.move({"x": x / (win.width - 1.0), "y": y / (win.height - 1.0), "pressure": pressure})


def pump(seconds: float = 0.0) -> None:
    """Run Kivy's loop (input, clock, drawing) for at least one frame and ``seconds``."""
    end = time.monotonic() + seconds
    EventLoop.idle()
    while time.monotonic() < end:
        EventLoop.idle()


def until(cond: Callable[[], Any], *, timeout: float = 20.0, what: str = "a condition") -> None:
    """Run the loop until ``cond()`` is true; :class:`KioskError` naming ``what`` after ``timeout``."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise KioskError(f"timed out waiting for {what}")
        EventLoop.idle()


def widgets(root: Widget) -> Iterator[Widget]:
    yield from root.walk(restrict=True)


def find(root: Widget, kid: str) -> Widget:
    """The widget named ``kid`` on screen; :class:`KioskError` listing what is there otherwise."""
    for w in widgets(root):
        if getattr(w, "kid", "") == kid:
            return w
    names = sorted({str(getattr(w, "kid", "")) for w in widgets(root)} - {""})
    raise KioskError(f"no widget {kid!r} on screen (there are: {', '.join(names)})")


def has(root: Widget, kid: str) -> bool:
    return any(getattr(w, "kid", "") == kid for w in widgets(root))


def text(root: Widget, kid: str) -> str:
    w = find(root, kid)
    return str(w.text)


def texts(root: Widget) -> str:
    """Every text on screen, one per line: what a customer can read."""
    return "\n".join(str(w.text) for w in widgets(root) if isinstance(w, Label) and w.text)


def tap(root: Widget, kid: str) -> None:
    """Touch the middle of widget ``kid`` (once laid out) and lift the finger."""
    pump()
    pump()
    w = find(root, kid)
    x, y = w.to_window(*w.center)
    touch = Touch(x, y)
    EventLoop.post_dispatch_input("begin", touch)
    pump()
    EventLoop.post_dispatch_input("end", touch)
    pump()


def stroke(root: Widget, kid: str, points: Sequence[tuple[float, float]], *, pressure: float | None = None) -> None:
    """Draw with one finger across widget ``kid``: ``points`` are (0–1, 0–1) of its width and height, top left first."""
    pump()
    w = find(root, kid)

    def at(fx: float, fy: float) -> tuple[float, float]:
        x, y = w.to_window(w.x + fx * w.width, w.top - fy * w.height)
        return float(x), float(y)

    touch = Touch(*at(*points[0]), pressure=pressure)
    EventLoop.post_dispatch_input("begin", touch)
    pump()
    for fx, fy in points[1:]:
        touch.move_to(*at(fx, fy), pressure=pressure)
        EventLoop.post_dispatch_input("update", touch)
        EventLoop.idle()
    EventLoop.post_dispatch_input("end", touch)
    pump()


def snapshot(root: Widget, path: Path) -> Path:
    """Render ``root`` to a PNG file."""
    pump()
    path.parent.mkdir(parents=True, exist_ok=True)
    root.export_to_png(str(path))
    return path
