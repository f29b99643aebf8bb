"""The kiosk's root widget: what the customer is doing, and what the hall tells it.

:class:`Kiosk` holds the state of one customer's visit (card, chosen business,
ticket, look-ups, rating) and redraws the body of the screen from it on every
change (``go``); the screens themselves are built in :mod:`kiosk_ui.screens`
and :mod:`kiosk_ui.selfservice`. Every flow returns to the attract screen after
``idle_timeout_s`` without a touch; a core that does not answer turns the
kiosk to a polite "connecting" screen that retries until the core is back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kivy.clock import Clock
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.config import HallConfig
from edge.errors import BusError, HallError, NotFound
from kiosk_ui import screens, selfservice
from kiosk_ui.config import KioskConfig
from kiosk_ui.i18n import Catalogue
from kiosk_ui.link import Link
from kiosk_ui.widgets import BG

HOME = "attract"


@dataclass(frozen=True)
class Offer:
    """A business as the kiosk offers it (the core's list, which HQ's bundle may change)."""

    code: str
    name: str
    name_en: str
    icon: str
    green_channel: bool


NO_TIMEOUT = {"attract", "offline"}
STATUS_EVERY_S = 5.0


class Kiosk(BoxLayout):
    """The whole kiosk screen; ``link`` is its bus, ``on_exit`` leaves full screen after the PIN."""

    def __init__(
        self,
        cfg: KioskConfig,
        hall: HallConfig,
        link: Link,
        *,
        on_exit: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,  # for idle timeouts; tests move it
    ) -> None:
        super().__init__(orientation="vertical")
        self.cfg, self.hall, self.link = cfg, hall, link
        self.cat = Catalogue.load()
        self.lang = cfg.language
        self.on_exit = on_exit
        self.clock = clock
        self.screen = HOME
        self.online = True
        self.status: dict[str, Any] | None = None
        self.bundle: dict[str, Any] | None = None
        self.printer_seen: OrderedDict[str, str] = OrderedDict()
        self.offline_tries = 0
        self.next_status = 0.0
        self.name_taps: list[float] = []
        self.pin_failures: list[float] = []
        self.reset()
        link.on_event = self.on_event
        link.on_online = self.on_online
        with self.canvas.before:
            from kivy.graphics import Color, Rectangle

            Color(*BG)
            self._bg = Rectangle(pos=self.pos, size=self.size)
        self.bind(pos=self._fit_bg, size=self._fit_bg)
        self._timer = Clock.schedule_interval(self.tick, 0.5)
        Window.bind(on_request_close=self._on_close, on_keyboard=self._on_key)
        self.go(HOME)
        self.refresh_status()

    # -- state ------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current customer: back to a blank visit."""
        self.customer: dict[str, Any] | None = None
        self.card: dict[str, Any] = {}
        self.green = False
        self.elderly = False
        self.ticket: dict[str, Any] | None = None
        self.print_state = "none"
        self.found: dict[str, Any] | None = None
        self.area: str | None = None
        self.outages: list[dict[str, Any]] | None = None
        self.repair_kind: str | None = None
        self.eval_number: str | None = None
        self.eval_score = 0
        self.eval_reasons: list[str] = []
        self.code = ""
        self.pin = ""
        self.message: tuple[str, dict[str, Any]] | None = None
        self.busy = False
        self.done = ""
        self.enrolling: str | None = None  # masked card of a consented customer whose face is being taken
        self.enrol_deadline = 0.0
        self.last_touch = self.clock()

    def businesses(self) -> list[Offer]:
        """The businesses to offer: the core's (from ``queue.status``, HQ's bundle included), else the local config's."""
        local = {b.code: b for b in self.hall.businesses}
        listed = (self.status or {}).get("businesses") or []
        if not listed:
            return [Offer(b.code, b.name, b.name_en, b.icon, b.green_channel) for b in self.hall.businesses]
        offers = []
        for b in listed:
            mine = local.get(b["code"])
            icon = b.get("icon") or (mine.icon if mine else "")
            green = b["green_channel"] if "green_channel" in b else bool(mine and mine.green_channel)
            offers.append(Offer(b["code"], b["name"], b.get("name_en", ""), icon, bool(green)))
        return offers

    def t(self, key: str, **values: Any) -> str:
        return self.cat.text(self.lang, key, **values)

    def fs(self, size: float) -> float:
        """A font size scaled to the window and, in elderly mode, larger still."""
        scale = max(0.6, min(float(Window.width) / 1280, float(Window.height) / 800))
        return size * scale * (1.3 if self.elderly else 1.0)

    def go(self, screen: str, *, keep_message: bool = False) -> None:
        """Show ``screen`` (rebuilt from the state)."""
        if screen != self.screen and not keep_message:
            self.message = None
        self.screen = screen
        self.last_touch = self.clock()
        self.redraw()

    def redraw(self) -> None:
        self.clear_widgets()
        self.add_widget(screens.header(self))
        builder = getattr(screens, self.screen, None) or getattr(selfservice, self.screen)
        body: Widget = builder(self)
        self.add_widget(body)
        if self.screen != HOME:
            self.add_widget(screens.footer(self))

    def home(self) -> None:
        """End the visit and show the attract screen."""
        self.reset()
        self.go(HOME)
        self.refresh_status()

    def say(self, key: str, **values: Any) -> None:
        """Show a short message on the current screen."""
        self.message = (key, values)
        self.redraw()

    def toggle_language(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"
        self.redraw()

    # -- input --------------------------------------------------------------------
    def on_touch_down(self, touch: Any) -> bool:
        self.last_touch = self.clock()
        return bool(super().on_touch_down(touch))

    def tap_hall_name(self) -> None:
        """Five taps on the hall name within three seconds open the technician PIN pad."""
        now = self.clock()
        self.name_taps = [t for t in self.name_taps if now - t < 3.0] + [now]
        if len(self.name_taps) >= 5:
            self.name_taps = []
            self.pin = ""
            self.go("pin")

    def _on_close(self, *_: Any) -> bool:
        self.pin = ""
        self.go("pin")
        return True  # only the technician PIN leaves

    def _on_key(self, window: Any, key: int, *_: Any) -> bool:
        if key == 27:  # Escape (and Android's back) must not leave the kiosk
            self._on_close()
            return True
        return False

    def check_pin(self) -> None:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        now = self.clock()
        self.pin_failures = [t for t in self.pin_failures if now - t < 60]
        pin, self.pin = self.pin, ""
        if self.cfg.technician_pin_hash is None:
            self.say("pin.none")
            return
        if len(self.pin_failures) >= 5:
            self.say("pin.wrong")
            return
        try:
            PasswordHasher().verify(self.cfg.technician_pin_hash, pin)
        except (VerificationError, InvalidHashError):
            self.pin_failures.append(now)
            self.say("pin.wrong")
            return
        if self.on_exit is not None:
            self.on_exit()

    # -- the hall -----------------------------------------------------------------
    def tick(self, *_: Any) -> None:
        now = self.clock()
        screens.update_clock(self)
        if self.enrolling is not None and now > self.enrol_deadline:
            self.enrolling = None  # no vision service answered: say so, record nothing more
            if self.screen == "done" and self.done == "enrolling":
                self.done = "unavailable"
                self.last_touch = now
                self.go("done")
        limit = self.cfg.evaluation_timeout_s if self.screen.startswith("evaluation") else self.cfg.idle_timeout_s
        if self.screen not in NO_TIMEOUT and now - self.last_touch > limit:
            self.home()
            return
        if self.screen in NO_TIMEOUT and time.monotonic() >= self.next_status:
            self.refresh_status()

    def refresh_status(self) -> None:
        self.next_status = time.monotonic() + STATUS_EVERY_S
        self.link.call("queue.status", on_ok=self._status, on_err=self._status_failed)
        if self.bundle is None:
            self.link.call("bundle.status", on_ok=self._bundle)

    def _status(self, status: dict[str, Any]) -> None:
        self.status = status
        if self.screen == HOME:
            self.redraw()

    def _status_failed(self, exc: HallError) -> None:
        if self.screen == "offline":
            self.offline_tries += 1
            self.redraw()

    def _bundle(self, status: dict[str, Any]) -> None:
        self.bundle = status

    def on_online(self, online: bool) -> None:
        self.online = online
        if not online and self.screen != "offline":
            self.reset()
            self.offline_tries = 0
            self.go("offline")
        elif online and self.screen == "offline":
            self.home()

    def on_event(self, env: dict[str, Any]) -> None:
        topic, data = env.get("topic", ""), env.get("data") or {}
        if topic in ("card.id.read", "card.ic.read"):
            self.on_card(topic, data)
        elif topic in ("printer.printed", "printer.failed"):
            self.on_printer(topic, data)
        elif topic == "ticket.finished" and self.cfg.evaluation_counter == data.get("counter"):
            self.reset()
            self.eval_number = str(data.get("number", ""))
            self.go("evaluation")
        elif topic in ("face.enrolled", "face.enroll_failed"):
            self.on_enrolment(topic, data)
        elif topic == "bundle.applied":
            self.bundle = None  # HQ's new bundle may also change the businesses: refresh soon
            self.next_status = min(self.next_status, time.monotonic() + 0.5)
        elif topic.startswith(("ticket.", "counter.")) and self.screen == HOME:
            self.next_status = min(self.next_status, time.monotonic() + 0.5)  # a burst of events: one refresh

    def on_card(self, topic: str, data: dict[str, Any]) -> None:
        if self.cfg.card_readers and data.get("reader") not in self.cfg.card_readers:
            return
        customer = data.get("customer")
        if not isinstance(customer, dict) or self.screen in ("offline", "pin") or self.screen.startswith("evaluation"):
            return
        if self.screen in ("ticket", "done"):
            self.reset()  # the next customer's card: a new visit
            self.screen = "businesses"
        self.customer, self.card = customer, data
        self.found = None
        self.last_touch = self.clock()
        if data.get("elderly"):
            self.green = True
        if self.screen == HOME:
            self.go("businesses")
        elif self.screen == "appointment":
            self.checkin({"customer": customer})
        elif self.screen in ("lookup", "bill", "usage"):
            self.lookup_customer()
        else:
            self.redraw()

    def await_enrolment(self, masked: str) -> None:
        """After a recorded consent: the vision service takes the face from this kiosk's camera."""
        self.enrolling = masked
        self.enrol_deadline = self.clock() + self.cfg.enrol_wait_s
        self.done = "enrolling"
        self.go("done")

    def on_enrolment(self, topic: str, data: dict[str, Any]) -> None:
        if self.enrolling is None or data.get("kiosk") != self.cfg.kiosk_id:
            return
        customer = data.get("customer")
        masked = customer.get("masked") if isinstance(customer, dict) else customer
        if masked not in (None, self.enrolling):
            return
        self.enrolling = None
        self.done = "enrolled" if topic == "face.enrolled" else "enroll_failed"
        self.last_touch = self.clock()
        self.go("done")

    def on_printer(self, topic: str, data: dict[str, Any]) -> None:
        state = "printed" if topic == "printer.printed" else "failed"
        ticket_id = str(data.get("ticket_id", ""))
        self.printer_seen[ticket_id] = state
        while len(self.printer_seen) > 50:
            self.printer_seen.popitem(last=False)
        if self.ticket is not None and self.ticket.get("id") == ticket_id:
            self.print_state = state
            if self.screen == "ticket":
                self.redraw()

    # -- flows ----------------------------------------------------------------------
    def take(self, code: str) -> None:
        """Issue a ticket for business ``code`` for the current customer."""
        if self.busy:
            return
        business = next((b for b in self.businesses() if b.code == code), None)
        if business is None:
            return
        priority = "green" if self.green and business.green_channel else "normal"
        data: dict[str, Any] = {"business": code, "priority": priority, "channel": "kiosk"}
        if self.customer is not None:
            data["customer"] = self.customer
        self.busy = True
        self.link.call("ticket.issue", data, on_ok=self._issued, on_err=self._refused)

    def checkin(self, data: dict[str, Any]) -> None:
        if self.busy:
            return
        self.busy = True
        self.link.call("appointment.checkin", data, on_ok=self._issued, on_err=self._checkin_refused)

    def _issued(self, ticket: dict[str, Any]) -> None:
        self.busy = False
        self.ticket = ticket
        self.print_state = self.printer_seen.get(str(ticket.get("id")), "printing")
        Clock.schedule_once(self._print_overdue, self.cfg.print_wait_s)
        self.go("ticket")

    def _print_overdue(self, *_: Any) -> None:
        if self.screen == "ticket" and self.print_state == "printing":
            self.print_state = "unknown"
            self.redraw()

    def _refused(self, exc: HallError) -> None:
        self.busy = False
        if not isinstance(exc, BusError):
            self.say("error.generic", message=str(exc))

    def _checkin_refused(self, exc: HallError) -> None:
        self.busy = False
        self.code = ""
        if isinstance(exc, BusError):
            return
        if isinstance(exc, NotFound):
            self.say("appt.notfound.card" if self.customer and "code" not in str(exc) else "appt.notfound")
        else:
            self.say("appt.conflict", message=str(exc))

    def lookup_customer(self) -> None:
        if self.customer is None:
            self.go("lookup")
            return
        self.link.call("bundle.status", on_ok=self._bundle)
        self.link.call("bundle.lookup", {"customer_hash": self.customer["hash"]}, on_ok=self._found)

    def _found(self, found: dict[str, Any]) -> None:
        self.found = found
        if self.screen in ("lookup", "bill", "usage"):
            self.redraw()

    def publish(self, topic: str, data: dict[str, Any], done: str) -> None:
        """Publish a kiosk fact (durable), then show the message ``done`` on the done screen."""
        if self.busy:
            return
        self.busy = True

        def shown(_: Any) -> None:
            self.busy = False
            self.done = done
            self.go("done")

        self.link.publish(topic, data, on_ok=shown, on_err=self._refused)

    def _fit_bg(self, *_: Any) -> None:
        self._bg.pos, self._bg.size = self.pos, self.size

    def close(self) -> None:
        self._timer.cancel()
        Window.unbind(on_request_close=self._on_close, on_keyboard=self._on_key)
