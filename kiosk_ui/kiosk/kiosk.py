"""The kiosk's root widget: what the customer is doing, and what the hall tells it.

:class:`Kiosk` is a :class:`~kiosk_ui.shell.Shell` with the kiosk's screens
(:mod:`kiosk_ui.kiosk.screens`) and its state, grouped per flow
(:mod:`kiosk_ui.kiosk.state`): the visit (card, ticket, printer), look-ups, the
repair form, the face flow (ticket by face, enrolment: :mod:`kiosk_ui.kiosk.faceflow`)
and the consent screen's choices, and the rating shared with the counter pad. Every
flow returns to the attract screen after ``idle_timeout_s`` without a touch; a
core that does not answer turns the kiosk to a polite "connecting" screen that
retries until the core is back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ClassVar

from kivy.clock import Clock

from edge.config import HallConfig
from edge.errors import BusError, HallError, NotFound
from kiosk_ui import rating
from kiosk_ui.kiosk import consent, faceflow
from kiosk_ui.kiosk.config import KioskConfig
from kiosk_ui.kiosk.screens import SCREENS
from kiosk_ui.kiosk.state import Consent, Face, Lookup, Offer, Repair, Visit
from kiosk_ui.link import Link
from kiosk_ui.shell import Done, Shell

HOME = "attract"


class Kiosk(Shell):
    """The whole kiosk screen; ``link`` is its bus, ``on_exit`` leaves full screen after the PIN."""

    screens = SCREENS
    home_screen = HOME
    done_texts: ClassVar[dict[str, Done]] = {
        "staff": ("elderly.staff.done", "staff", None),
        "eval": ("eval.thanks", "green", None),
        "declined": ("consent.declined", "face", None),
        "revoked": ("consent.revoked", "face", None),
        "unavailable": ("consent.unavailable", "face", None),
        "enrolled": ("consent.enrolled", "face", None),
        "enroll_failed": ("consent.enroll_failed", "face", None),
    }

    def __init__(
        self,
        cfg: KioskConfig,
        hall: HallConfig,
        link: Link,
        *,
        on_exit: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            hall,
            link,
            language=cfg.language,
            idle_timeout_s=cfg.idle_timeout_s,
            rating_timeout_s=cfg.evaluation_timeout_s,
            pin_hash=cfg.technician_pin_hash,
            on_exit=on_exit,
            clock=clock,
        )
        self.cfg = cfg
        self.bundle: dict[str, Any] | None = None
        self.printer_seen: OrderedDict[str, str] = OrderedDict()
        self.visit = Visit()
        self.lookup = Lookup()
        self.repair = Repair()
        self.face = Face()
        self.consent = Consent()
        self.go(HOME)
        self.poll()

    # -- state ------------------------------------------------------------------
    def reset(self) -> None:
        faceflow.walked_away(self)
        super().reset()
        self.visit = Visit()
        self.lookup = Lookup()
        self.repair = Repair()
        self.face = Face()
        self.consent = Consent()

    def large_text(self) -> bool:
        return self.visit.elderly

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

    # -- the hall -----------------------------------------------------------------
    def every_tick(self, now: float) -> None:
        if self.face.mode is not None and now > self.face.deadline:
            faceflow.overdue(self)  # no vision service answered: say so, record nothing more

    def poll(self) -> None:
        super().poll()
        self.link.call("queue.status", on_ok=self._status, on_err=self.poll_failed)
        if self.bundle is None:
            self.link.call("bundle.status", on_ok=self._bundle)

    def _status(self, status: dict[str, Any]) -> None:
        self.status = status
        if self.screen == HOME:
            self.redraw()

    def _bundle(self, status: dict[str, Any]) -> None:
        self.bundle = status

    def on_event(self, env: dict[str, Any]) -> None:
        topic, data = env.get("topic", ""), env.get("data") or {}
        if topic in ("card.id.read", "card.ic.read"):
            self.on_card(topic, data)
        elif topic in ("printer.printed", "printer.failed"):
            self.on_printer(topic, data)
        elif topic == "ticket.finished" and self.cfg.evaluation_counter == data.get("counter"):
            rating.ask(self, str(data.get("number", "")))
        elif topic.startswith("face."):
            faceflow.on_event(self, topic, data)
        elif topic == "evaluation.recorded":
            rating.heard(self, topic, data)
        elif topic == "bundle.applied":
            self.bundle = None  # HQ's new bundle may also change the businesses: refresh soon
            self.next_poll = min(self.next_poll, time.monotonic() + 0.5)
        elif topic.startswith(("ticket.", "counter.")) and self.screen == HOME:
            self.next_poll = min(self.next_poll, time.monotonic() + 0.5)  # a burst of events: one refresh

    def on_card(self, topic: str, data: dict[str, Any]) -> None:
        if self.cfg.card_readers and data.get("reader") not in self.cfg.card_readers:
            return
        customer = data.get("customer")
        if not isinstance(customer, dict) or self.screen in ("offline", "pin", "evaluation"):
            return
        if self.screen in ("ticket", "done", "repair_sent"):
            self.reset()  # the next customer's card: a new visit
            self.screen = "businesses"
        if self.screen in ("face_look", "face_confirm"):
            faceflow.walked_away(self)
            self.face = Face()  # the card, whatever the camera was about to say
            self.screen = "businesses"
        self.visit.customer, self.visit.card = customer, data
        self.lookup.found = None
        self.last_touch = self.clock()
        if data.get("elderly"):
            self.visit.green = True
        if self.screen == HOME:
            self.go("businesses")
        elif self.screen == "appointment":
            self.checkin({"customer": customer})
        elif self.screen in ("lookup", "bill", "usage"):
            self.lookup_customer()
        elif self.screen == "myrepair":
            from kiosk_ui.kiosk.repairs import open_mine

            open_mine(self)
        elif self.screen == "consent":
            self.consent = Consent()
            self.redraw()
            lookup = {"customer_hash": customer["hash"], "also": customer.get("also", [])}
            self.link.call("bundle.lookup", lookup, on_ok=self._consent_lookup)
        else:
            self.redraw()

    def _consent_lookup(self, found: dict[str, Any]) -> None:
        consent.looked_up(self, found)

    def on_printer(self, topic: str, data: dict[str, Any]) -> None:
        state = "printed" if topic == "printer.printed" else "failed"
        if data.get("repair"):  # a repair report's slip
            self.printer_seen["repair:" + str(data["repair"])] = state
            if self.screen == "repair_sent":
                self.redraw()
            return
        ticket_id = str(data.get("ticket_id", ""))
        self.printer_seen[ticket_id] = state
        while len(self.printer_seen) > 50:
            self.printer_seen.popitem(last=False)
        ticket = self.visit.ticket
        if ticket is not None and ticket.get("id") == ticket_id:
            self.visit.print_state = state
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
        priority = "green" if self.visit.green and business.green_channel else "normal"
        data: dict[str, Any] = {"business": code, "priority": priority, "channel": "kiosk"}
        if self.visit.customer is not None:
            data["customer"] = self.visit.customer
        self.busy = True
        self.link.call("ticket.issue", data, on_ok=self._issued, on_err=self.refused)

    def checkin(self, data: dict[str, Any]) -> None:
        if self.busy:
            return
        self.busy = True
        self.link.call("appointment.checkin", data, on_ok=self._issued, on_err=self._checkin_refused)

    def _issued(self, ticket: dict[str, Any]) -> None:
        self.busy = False
        self.visit.ticket = ticket
        self.visit.print_state = self.printer_seen.get(str(ticket.get("id")), "printing")
        Clock.schedule_once(self._print_overdue, self.cfg.print_wait_s)
        self.go("ticket")

    def _print_overdue(self, *_: Any) -> None:
        if self.screen == "ticket" and self.visit.print_state == "printing":
            self.visit.print_state = "unknown"
            self.redraw()

    def _checkin_refused(self, exc: HallError) -> None:
        self.busy = False
        self.visit.code = ""
        if isinstance(exc, BusError):
            return
        if isinstance(exc, NotFound):
            self.say("appt.notfound.card" if self.visit.customer and "code" not in str(exc) else "appt.notfound")
        else:
            self.say("appt.conflict", message=str(exc))

    def lookup_customer(self) -> None:
        if self.visit.customer is None:
            self.go("lookup")
            return
        self.link.call("bundle.status", on_ok=self._bundle)
        customer = self.visit.customer
        lookup = {"customer_hash": customer["hash"], "also": customer.get("also", [])}
        self.link.call("bundle.lookup", lookup, on_ok=self._found)

    def _found(self, found: dict[str, Any]) -> None:
        self.lookup.found = found
        if self.screen in ("lookup", "bill", "usage"):
            self.redraw()

    def publish(self, topic: str, data: dict[str, Any], done: str) -> None:
        """Publish a kiosk fact (durable), then show the message ``done`` on the done screen."""
        if self.busy:
            return
        self.busy = True
        self.link.publish(topic, data, on_ok=lambda _: self.show_done(done), on_err=self.refused)
