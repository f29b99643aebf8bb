"""The pad's root widget: the counter's customer, the form to confirm and sign, and what the hall says.

:class:`Pad` is a :class:`~kiosk_ui.shell.Shell` with the pad's screens
(:mod:`kiosk_ui.pad.screens`) and its state, grouped per flow
(:mod:`kiosk_ui.pad.state`). What it shows follows the core: the counter's
ticket (``ticket.*`` events), the form the clerk pushes (``form.pushed``), and
``form.current`` asked every few seconds and whenever the bus comes back, so a
pad that lost the bus, or was restarted, shows the same form again (and keeps
the strokes already signed). A form nobody touches for ``form_timeout_s`` is
withdrawn; the clerk can cancel it from the panel at any time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from edge.config import HallConfig
from edge.errors import BusError, HallError
from edge.records.signature import too_short
from kiosk_ui import rating
from kiosk_ui.link import Link
from kiosk_ui.pad.config import PadConfig
from kiosk_ui.pad.screens import SCREENS, header_extras
from kiosk_ui.pad.state import BOX_WIDTH, Desk, Reading, Signed, Signing
from kiosk_ui.shell import Done, Shell

TOPICS = ("ticket.", "counter.", "form.", "record.", "bundle.applied", "pad.", "evaluation.recorded")
AT_REST = ("idle", "called")
ON_FORM = ("form", "signature")


class Pad(Shell):
    """The pad of counter ``counter``; ``link`` is its bus, ``on_exit`` leaves full screen after the PIN."""

    screens = SCREENS
    home_screen = "idle"
    done_texts: ClassVar[dict[str, Done]] = {
        "eval": ("eval.thanks", "green", None),
        "cancelled": ("pad.done.cancelled", "form", "pad.done.sub"),
        "withdrawn": ("pad.done.withdrawn", "form", "pad.done.sub"),
        "ended": ("pad.done.ended", "form", None),
    }

    def __init__(
        self,
        cfg: PadConfig,
        hall: HallConfig,
        link: Link,
        *,
        counter: str,
        on_exit: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            hall,
            link,
            language=cfg.language,
            idle_timeout_s=cfg.idle_timeout_s,
            rating_timeout_s=cfg.rating_timeout_s,
            pin_hash=cfg.technician_pin_hash,
            on_exit=on_exit,
            clock=clock,
        )
        self.cfg = cfg
        self.counter = counter
        self.large = cfg.large_text
        self.unknown_counter = False
        self.heard = 0  # events of this counter handled so far: a poll answer older than one is stale
        self.desk = Desk()
        self.reading = Reading()
        self.signing = Signing()
        self.signed = Signed()
        self.go("idle")
        self.poll()

    # -- state ------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.reading = Reading()
        self.signing = Signing()
        self.signed = Signed()

    def large_text(self) -> bool:
        return self.large or bool(self.desk.ticket and self.desk.ticket.get("priority") == "green")

    def toggle_large(self) -> None:
        self.large = not self.large
        self.redraw()

    def header_extras(self) -> list[Any]:
        return header_extras(self)

    def rest(self) -> str:
        """The screen when nothing is asked of the customer: their ticket, else the welcome."""
        return "called" if self.desk.ticket else "idle"

    def home(self) -> None:
        self.reset()
        self.go(self.rest())

    def counter_name(self) -> str:
        key = "name_en" if self.lang == "en" else "name"
        if self.desk.counter and self.desk.counter.get(key):
            return str(self.desk.counter[key])
        for c in self.hall.counters:
            if c.id == self.counter:
                return (c.name_en or f"Counter {c.id}") if self.lang == "en" else c.name
        return f"Counter {self.counter}" if self.lang == "en" else self.counter

    def should_poll(self) -> bool:
        return True  # the pad follows the core even while a customer reads: a lost bus shows at once

    def timed_out(self) -> None:
        if self.screen in ON_FORM and self.reading.form is not None:
            self.abandon()
        else:
            self.home()

    # -- the core's word ----------------------------------------------------------------
    def poll(self) -> None:
        super().poll()
        asked = self.heard  # an answer overtaken by an event of this counter is stale: the next poll follows
        self.link.call(
            "form.current",
            {"counter": self.counter},
            on_ok=lambda now: self._current(now) if self.heard == asked or self.screen == "offline" else None,
            on_err=self._poll_refused,
        )
        if self.status is None:
            self.link.call("queue.status", on_ok=self._status)

    def _status(self, status: dict[str, Any]) -> None:
        self.status = status
        self.redraw()

    def _poll_refused(self, exc: HallError) -> None:
        if isinstance(exc, BusError):
            self.poll_failed(exc)
        elif exc.code == "not_found" and not self.unknown_counter:
            self.unknown_counter = True  # a pad set up for a counter the hall does not have: say so
            self.redraw()

    def _current(self, now: dict[str, Any]) -> None:
        """Follow the core: the counter, its ticket and its open form (after a lost bus, a restart, a missed event)."""
        self.unknown_counter = False
        self.desk.counter, self.desk.ticket = now["counter"], now["ticket"]
        form = now["form"]
        mine = self.reading.form
        if form is not None and (mine is None or form["id"] != mine["id"]):
            self.show_form(form)
            return
        if form is None and mine is not None and self.screen in (*ON_FORM, "offline"):
            self.reset()  # the form ended while the pad was not listening: signed (the answer lost), or not
            self.go(self.rest())
            self.link.call(
                "record.list", {"counter": self.counter}, on_ok=lambda rows: self._signed_meanwhile(mine, rows)
            )
            return
        if self.screen == "offline":
            if form is not None:
                self.reading.form = form
                self.go("signature" if form["state"] == "confirmed" else "form")
            else:
                self.go(self.rest())
        elif self.screen in AT_REST and self.screen != self.rest():
            self.go(self.rest())
        elif self.screen in AT_REST:
            self.redraw()

    def lost(self) -> None:
        self.message = None
        self.busy = False  # keep the form and the strokes: the core keeps them too

    def recovered(self) -> None:
        self.offline_tries = 0
        self.poll()  # form.current's answer puts the right screen back

    def on_event(self, env: dict[str, Any]) -> None:
        topic, data = env.get("topic", ""), env.get("data") or {}
        if self.counter in (data.get("counter"), data.get("from_counter"), data.get("id")):
            self.heard += 1
        if topic.startswith("ticket."):
            self.on_ticket(topic, data)
        elif topic.startswith("counter.") and data.get("id") == self.counter:
            self.next_poll = min(self.next_poll, time.monotonic() + 0.3)
        elif topic == "form.pushed" and data.get("counter") == self.counter:
            self.show_form(data)
        elif topic in ("form.cancelled", "form.withdrawn") and data.get("counter") == self.counter:
            self.on_form_ended(data)
        elif topic == "record.signed" and data.get("counter") == self.counter:
            form = self.reading.form
            if form is not None and data.get("form", {}).get("id") == form["id"]:
                self.show_signed(data)
        elif topic == "bundle.applied":
            self.status = None
        elif topic == "evaluation.recorded":
            rating.heard(self, topic, data)

    def on_ticket(self, topic: str, data: dict[str, Any]) -> None:
        at_mine = data.get("counter") == self.counter or data.get("from_counter") == self.counter
        if not at_mine:
            return
        current = self.desk.ticket
        if topic in ("ticket.called", "ticket.recalled", "ticket.serving"):
            self.desk.ticket = data
            if self.screen in AT_REST:
                self.go("called")
        elif topic == "ticket.finished" and (current is None or current.get("id") == data.get("id")):
            self.desk.ticket = None
            rating.ask(self, str(data.get("number", "")))  # the core withdraws a form still open
        elif topic in ("ticket.no_show", "ticket.transferred", "ticket.cancelled"):
            self.desk.ticket = None
            if self.screen in (*AT_REST, *ON_FORM):
                self.home()

    # -- the form ------------------------------------------------------------------------
    def show_form(self, form: dict[str, Any]) -> None:
        old = self.reading.form
        changed: list[str] = []
        if old is not None and form.get("replaces") == old.get("id"):
            before = {f["key"]: f.get("value") for f in old.get("fields", [])}
            changed = [f["key"] for f in form.get("fields", []) if before.get(f["key"]) != f.get("value")]
        self.reset()
        self.reading = Reading(form=form, changed=changed)
        if form.get("state") == "confirmed":
            self.signing = Signing(form_id=form["id"])
            self.go("signature")
        else:
            self.go("form")

    def flag(self, key: str) -> None:
        """The customer marks (or unmarks) a row as wrong."""
        flagged = self.reading.flagged
        if key in flagged:
            flagged.remove(key)
        else:
            flagged.append(key)
        self.redraw()

    def ask_correction(self) -> None:
        """Tell the clerk (on the panel) which rows the customer wants corrected."""
        form = self.reading.form
        if form is None or self.busy:
            return
        labels = {f["key"]: f["label"] for f in form.get("fields", [])}
        data = {
            "counter": self.counter,
            "form_id": form["id"],
            "fields": list(self.reading.flagged),
            "labels": [labels[k] for k in self.reading.flagged if k in labels],
        }
        self.busy = True

        def asked(_: Any) -> None:
            self.busy = False
            self.reading.asked = True
            self.say("pad.form.asked", gentle=True)

        self.link.publish("pad.correction_requested", data, durable=True, on_ok=asked, on_err=self.refused)

    def confirm(self) -> None:
        form = self.reading.form
        if form is None or self.busy:
            return
        self.busy = True

        def confirmed(_: Any) -> None:
            self.busy = False
            self.signing = Signing(form_id=form["id"])
            self.go("signature")

        self.link.call("form.confirm", {"form_id": form["id"]}, on_ok=confirmed, on_err=self._form_refused)

    def _form_refused(self, exc: HallError) -> None:
        self.refused(exc)
        if not isinstance(exc, BusError):
            self.next_poll = 0.0  # the form may have ended meanwhile: ask the core

    def clear_signature(self) -> None:
        self.signing = Signing(form_id=self.signing.form_id)
        self.message = None
        self.redraw()

    def signature_changed(self) -> None:
        if self.message is not None:
            self.message = None
            self.redraw()

    def sign(self) -> None:
        form = self.reading.form
        if form is None or self.busy:
            return
        strokes = self.signing.strokes
        if not strokes:
            self.say("pad.sign.empty", gentle=True)
            return
        if too_short(strokes, width=BOX_WIDTH) is not None:
            self.signing = Signing(form_id=self.signing.form_id)
            self.say("pad.sign.short", gentle=True)  # kindly, and a clean box to try again
            return
        self.busy = True
        sig = {"width": BOX_WIDTH, "height": self.signing.height, "strokes": strokes}
        self.link.call(
            "form.sign", {"form_id": form["id"], "signature": sig}, on_ok=self.show_signed, on_err=self._form_refused
        )

    def show_signed(self, record: dict[str, Any]) -> None:
        if self.screen == "signed":
            return
        self.busy = False
        self.signed = Signed(record)
        self.reading = Reading()
        self.signing = Signing()
        self.go("signed")

    def _signed_meanwhile(self, form: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        record = next((r for r in reversed(rows) if r.get("form_id") == form["id"]), None)
        if record is not None and self.screen in AT_REST:
            self.show_signed(record)

    def on_form_ended(self, data: dict[str, Any]) -> None:
        form = self.reading.form
        if form is None or data.get("id") != form["id"] or data.get("reason") == "replaced":
            return  # another form, or one the clerk replaced: the new one is on its way
        reason = data.get("reason")
        done = "cancelled" if data.get("state") == "cancelled" else "ended" if reason == "ticket_ended" else "withdrawn"
        self.reset()
        if self.screen != "evaluation":
            self.show_done(done)

    def abandon(self) -> None:
        """Nobody touched the form for ``form_timeout_s``: withdraw it and say so."""
        form = self.reading.form
        self.reset()
        self.show_done("withdrawn")
        if form is not None:
            self.link.call("form.withdraw", {"form_id": form["id"], "reason": "abandoned"})
