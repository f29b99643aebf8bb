"""What both customer-facing apps are made of: the frame around their screens.

:class:`Shell` is the root widget of the kiosk and of the counter pad. It holds
what every screen shares (language, large text, the hall's status, a message,
the technician PIN pad, whether the core answers, the rating flow both apps share) and redraws the screen from
the app's :class:`~kiosk_ui.registry.Registry` on every change (:meth:`go`,
:meth:`redraw`): the header, the body the registry builds, the footer.

Every half second it ticks: the clock, the screen's timeout (a screen left
without a touch for its ``timeout`` ends by :meth:`timed_out`), and a poll of
the core every ``poll_every_s`` while :meth:`should_poll` says so. A request
that gets no answer turns the app to the "offline" screen (:meth:`lost`); the
next answered one brings it back (:meth:`recovered`). Escape and the window's
close request open the technician PIN pad (five taps on the hall name too);
only the PIN's hash is configured, and without one the app cannot be left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics import Color, Rectangle
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.config import HallConfig
from edge.errors import HallError
from kiosk_ui import common
from kiosk_ui.i18n import Catalogue
from kiosk_ui.link import Link
from kiosk_ui.rating import Rating
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import BG

Done = tuple[str, str, str | None]  # text key, icon, optional second line's key


@dataclass
class PinPad:
    """The technician exit: digits typed, recent taps on the hall name, recent wrong PINs."""

    digits: str = ""
    taps: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)


class Shell(BoxLayout):
    """The frame of a customer-facing app; subclasses say which screens, state and hall events."""

    screens: ClassVar[Registry[Any]]
    home_screen: ClassVar[str]
    done_texts: ClassVar[dict[str, Done]] = {}
    poll_every_s: ClassVar[float] = 5.0

    def __init__(
        self,
        hall: HallConfig,
        link: Link,
        *,
        language: str,
        idle_timeout_s: float,
        rating_timeout_s: float,
        pin_hash: str | None,
        on_exit: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,  # for timeouts; tests move it
    ) -> None:
        super().__init__(orientation="vertical")
        self.hall, self.link = hall, link
        self.cat = Catalogue.load()
        self.lang = language
        self.idle_timeout_s = idle_timeout_s
        self.rating_timeout_s = rating_timeout_s
        self.pin_hash = pin_hash
        self.on_exit = on_exit
        self.clock = clock
        self.screen = self.home_screen
        self.online = True
        self.offline_tries = 0
        self.status: dict[str, Any] | None = None  # the core's queue.status
        self.message: tuple[str, dict[str, Any]] | None = None
        self.gentle = False  # the message is a kind word (a signature too short), not a refusal
        self.busy = False  # a request of the customer's is on its way: further taps wait
        self.done = ""  # which message the "done" screen shows (a key of done_texts)
        self.pin = PinPad()
        self.rating = Rating()
        self.last_touch = clock()
        self.next_poll = 0.0
        self.clock_label: Any = None
        link.on_event = self.on_event
        link.on_online = self.on_online
        with self.canvas.before:
            Color(*BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._fit_bg, size=self._fit_bg)
        self._timer = Clock.schedule_interval(self.tick, 0.5)
        Window.bind(on_request_close=self._on_close, on_keyboard=self._on_key)

    # -- what an app says about itself -------------------------------------------
    def large_text(self) -> bool:
        """Whether the screens use the elderly's larger type."""
        return False

    def reset(self) -> None:
        """Forget the current customer (subclasses forget their flows' state too)."""
        self.message = None
        self.busy = False
        self.done = ""
        self.pin.digits = ""
        self.rating = Rating()
        self.last_touch = self.clock()

    def home(self) -> None:
        """End what the customer was doing and show the home screen."""
        self.reset()
        self.go(self.home_screen)
        self.poll()

    def poll(self) -> None:
        """Ask the core what the app shows when nobody touches it (called every ``poll_every_s``)."""
        self.next_poll = time.monotonic() + self.poll_every_s

    def should_poll(self) -> bool:
        return self.screen in (self.home_screen, "offline")

    def timed_out(self) -> None:
        """The screen's timeout passed without a touch."""
        self.home()

    def on_event(self, env: dict[str, Any]) -> None:
        """An event of the hall, on the UI thread."""

    def header_extras(self) -> list[Widget]:
        """Widgets the app adds to the header between the hall's name and the clock."""
        return []

    def lost(self) -> None:
        """The core stopped answering: forget the customer, say so."""
        self.reset()

    def recovered(self) -> None:
        """The core answers again."""
        self.home()

    # -- drawing ---------------------------------------------------------------------
    def t(self, key: str, **values: Any) -> str:
        return self.cat.text(self.lang, key, **values)

    def fs(self, size: float, *, grow: bool = True) -> float:
        """A font size scaled to the window and, for the elderly, larger still (unless ``grow`` is off)."""
        scale = max(0.6, min(float(Window.width) / 1280, float(Window.height) / 800))
        return size * scale * (1.3 if grow and self.large_text() else 1.0)

    def go(self, screen: str, *, keep_message: bool = False) -> None:
        """Show ``screen`` (built from the state)."""
        self.screens[screen]  # an unknown name fails here, before anything changes
        if screen != self.screen and not keep_message:
            self.message = None
        self.screen = screen
        self.last_touch = self.clock()
        self.redraw()

    def redraw(self) -> None:
        spec = self.screens[self.screen]
        self.clear_widgets()
        self.add_widget(common.header(self))
        self.add_widget(spec.build(self))
        if spec.footer:
            self.add_widget(common.footer(self, back=spec.back))

    def say(self, key: str, *, gentle: bool = False, **values: Any) -> None:
        """Show a short message on the current screen (``gentle``: a kind word rather than a refusal)."""
        self.message = (key, values)
        self.gentle = gentle
        self.redraw()

    def show_done(self, done: str) -> None:
        self.busy = False
        self.done = done
        self.go("done")

    def toggle_language(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"
        self.redraw()

    def refused(self, exc: HallError) -> None:
        """A request of the customer's was refused: say why (no answer at all is the offline screen's)."""
        from edge.errors import BusError

        self.busy = False
        if not isinstance(exc, BusError):
            self.say("error.generic", message=str(exc))

    # -- input -----------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        self.last_touch = self.clock()
        return bool(super().on_touch_down(touch))

    def tap_hall_name(self) -> None:
        """Five taps on the hall name within three seconds open the technician PIN pad."""
        now = self.clock()
        self.pin.taps = [t for t in self.pin.taps if now - t < 3.0] + [now]
        if len(self.pin.taps) >= 5:
            self.pin.taps = []
            self.pin.digits = ""
            self.go("pin")

    def _on_close(self, *_: Any) -> bool:
        self.pin.digits = ""
        self.go("pin")
        return True  # only the technician PIN leaves

    def _on_key(self, window: Any, key: int, *_: Any) -> bool:
        if key == 27:  # Escape (and Android's back) must not leave the app
            self._on_close()
            return True
        return False

    def check_pin(self) -> None:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        now = self.clock()
        self.pin.failures = [t for t in self.pin.failures if now - t < 60]
        digits, self.pin.digits = self.pin.digits, ""
        if self.pin_hash is None:
            self.say("pin.none")
            return
        if len(self.pin.failures) >= 5:
            self.say("pin.wrong")
            return
        try:
            PasswordHasher().verify(self.pin_hash, digits)
        except (VerificationError, InvalidHashError):
            self.pin.failures.append(now)
            self.say("pin.wrong")
            return
        if self.on_exit is not None:
            self.on_exit()

    # -- time and the bus ----------------------------------------------------------
    def tick(self, *_: Any) -> None:
        common.update_clock(self)
        self.every_tick(self.clock())
        timeout = self.screens[self.screen].timeout
        if timeout is not None and self.clock() - self.last_touch > timeout(self):
            self.timed_out()
            return
        if self.should_poll() and time.monotonic() >= self.next_poll:
            self.poll()

    def every_tick(self, now: float) -> None:
        """Work of the app's own on every tick (deadlines of its flows)."""

    def poll_failed(self, exc: HallError) -> None:
        if self.screen == "offline":
            self.offline_tries += 1
            self.redraw()

    def on_online(self, online: bool) -> None:
        self.online = online
        if not online and self.screen != "offline":
            self.lost()
            self.offline_tries = 0
            self.go("offline")
        elif online and self.screen == "offline":
            self.recovered()

    def _fit_bg(self, *_: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    def close(self) -> None:
        self._timer.cancel()
        Window.unbind(on_request_close=self._on_close, on_keyboard=self._on_key)
