"""Ticket by face (刷脸取号) and the camera's prompts while enrolling: never silent, the ID card always beside it.

A customer taps "刷脸取号"; the kiosk asks the vision service (``face.match_requested``
with a fresh request id) and shows what the camera asks (``face.progress``: look
at the camera, blink, turn the head to a side, with an arrow). The answer is
either a candidate (``face.candidate``: the keyed reference, the masked card
and name, tags), which the customer must confirm on screen (是我 / 不是我,
the same size) before it identifies them as a card tap would, or an abstention
(``face.abstained``), on which the kiosk goes straight to the business tiles
with the reason and asks for the ID card. The answer is told back
(``face.match_answered``) so the vision service audits it. No answer within
``face_wait_s`` is an abstention too. The card reader works throughout: a card
tapped during the flow identifies the customer at once.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk_ui.icons import Icon
from kiosk_ui.kiosk.state import Face
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, GREEN_LIGHT, INK, MUTED, ORANGE, WHITE, Btn, Panel, Text

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk

ARROWS = {"turn_left": "←", "turn_right": "→"}  # the customer's left is the screen's left as they face it


def register(screens: Registry[Kiosk]) -> None:
    screens.add("face_look", look)
    screens.add("face_confirm", confirm)


def start_ticket(k: Kiosk) -> None:
    """The customer tapped 刷脸取号: ask the vision service, show the camera's prompts."""
    request = uuid.uuid4().hex
    k.face = Face("ticket", request, k.clock() + k.cfg.face_wait_s)
    k.go("face_look")
    k.link.publish(
        "face.match_requested",
        {"kiosk": k.cfg.kiosk_id, "request": request, "purpose": "ticket"},
        durable=False,
        on_err=lambda exc: abstained(k, "unavailable"),
    )


def expect_enrolment(k: Kiosk, request: str, masked: str) -> None:
    """A consent is being recorded: from now on the camera's prompts and answer for ``request`` are ours."""
    k.face = Face("enrol", request, k.clock() + k.cfg.face_wait_s, masked=masked)


def show_enrolment(k: Kiosk, request: str) -> None:
    """The consent is recorded: show the camera's prompts (unless its answer came first)."""
    k.busy = False
    if k.face.mode == "enrol" and k.face.request == request:
        k.go("face_look")


def on_event(k: Kiosk, topic: str, data: dict[str, Any]) -> None:
    """An answer of the vision service; only this kiosk's, for the request under way."""
    face = k.face
    if face.mode is None or data.get("kiosk") != k.cfg.kiosk_id or data.get("request") != face.request:
        return
    k.last_touch = k.clock()
    if topic == "face.progress":
        face.step = str(data.get("step", "look"))
        if k.screen == "face_look":
            k.redraw()
    elif topic == "face.candidate" and face.mode == "ticket":
        face.candidate = data
        k.go("face_confirm")
    elif topic == "face.abstained" and face.mode == "ticket":
        abstained(k, str(data.get("code", "unavailable")))
    elif topic in ("face.enrolled", "face.enroll_failed") and face.mode == "enrol":
        k.face = Face()
        k.show_done("enrolled" if topic == "face.enrolled" else "enroll_failed")


def abstained(k: Kiosk, code: str) -> None:
    """No name: straight to the businesses, the ID card asked for."""
    k.face = Face()
    k.go("businesses")
    key = f"face.abstained.{code}"
    k.say(key if key in k.cat.texts[k.lang] else "face.abstained.unavailable")


def overdue(k: Kiosk) -> None:
    """No answer in ``face_wait_s``: for a ticket, the card; for an enrolment, the service is unavailable."""
    mode = k.face.mode
    if k.screen not in ("face_look", "face_confirm"):
        k.face = Face()
        return
    if mode == "ticket":
        abstained(k, "unavailable")
    else:
        k.face = Face()
        k.show_done("unavailable")


def _tell(k: Kiosk, confirmed: bool) -> dict[str, Any]:
    """Tell the vision service (which audits it) the customer's word on the candidate; the candidate's card."""
    candidate = k.face.candidate or {}
    customer = candidate.get("customer") or {}
    data = {
        "kiosk": k.cfg.kiosk_id,
        "request": k.face.request,
        "customer_hash": customer.get("hash", ""),
        "answer": "confirmed" if confirmed else "rejected",
    }
    k.link.publish("face.match_answered", data, durable=False)
    k.face = Face()
    return dict(customer)


def walked_away(k: Kiosk) -> None:
    """A candidate left unconfirmed (back home, idle, a card tapped instead): not confirmed, and audited so."""
    if k.face.candidate is not None:
        _tell(k, False)


def answer(k: Kiosk, confirmed: bool) -> None:
    """The customer's word on the candidate; told to the vision service, which audits it."""
    customer = _tell(k, confirmed)
    if confirmed:
        # identified as a card tap would: the ticket carries this reference, and the core its tags
        k.visit.customer = {key: customer.get(key, "") for key in ("kind", "hash", "masked", "name_masked")}
        k.visit.card = {"reader": "face", "customer": k.visit.customer}
        k.go("businesses")
        k.say("face.confirmed", gentle=True)
    else:
        k.go("businesses")
        k.say("face.rejected", gentle=True)


def look(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = Panel(fill=WHITE, orientation="vertical", padding=24, spacing=12, size_hint_x=0.62)
    title = "face.enrol.title" if k.face.mode == "enrol" else "face.look.title"
    left.add_widget(Text(k.t(title), size=k.fs(34), color=GREEN, bold=True, size_hint_y=0.2))
    step = k.face.step
    arrow = ARROWS.get(step, "")
    if arrow:
        left.add_widget(Text(arrow, size=k.fs(150), color=ORANGE, bold=True, kid="face.arrow", size_hint_y=0.45))
    else:
        left.add_widget(Icon("face", color=GREEN, size_hint_y=0.45))
    left.add_widget(Text(k.t(f"face.step.{step}"), size=k.fs(48), color=INK, bold=True, kid="face.step"))
    body.add_widget(left)
    side = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.38)
    note = Panel(fill=GREEN_LIGHT, orientation="vertical", padding=14)
    note.add_widget(Text(signage(k), size=k.fs(22), color=INK, halign="left", kid="face.signage"))
    side.add_widget(note)
    if k.face.mode == "ticket":
        card = Btn(k.t("face.card"), kid="face.card", size=k.fs(30), fill=WHITE, color=GREEN, border=GREEN, icon="id")
        card.size_hint_y = 0.4
        card.bind(on_release=lambda *_: _by_card(k))
        side.add_widget(card)
    body.add_widget(side)
    return body


def _by_card(k: Kiosk) -> None:
    k.face = Face()  # the vision service's session ends by itself; its answer is for a request no longer asked
    k.go("businesses")


def confirm(k: Kiosk) -> Widget:
    candidate = k.face.candidate or {}
    customer = candidate.get("customer") or {}
    body = BoxLayout(orientation="vertical", padding=(60, 24), spacing=20)
    body.add_widget(Text(k.t("face.confirm.title"), size=k.fs(40), bold=True, size_hint_y=0.2))
    card = Panel(fill=GREEN_LIGHT, orientation="vertical", padding=20, spacing=8, size_hint_y=0.4)
    shown = " ".join(str(p) for p in (customer.get("name_masked"), customer.get("masked")) if p)
    card.add_widget(Text(shown, size=k.fs(52), color=GREEN, bold=True, kid="face.who"))
    card.add_widget(Text(k.t("face.confirm.sub"), size=k.fs(26), color=MUTED))
    body.add_widget(card)
    choice = BoxLayout(orientation="horizontal", spacing=24, size_hint_y=0.3)
    # Yes and no: the same size, side by side; a match is never taken silently.
    yes = Btn(k.t("face.yes"), kid="face.yes", size=k.fs(36), fill=GREEN)
    no = Btn(k.t("face.no"), kid="face.no", size=k.fs(36), fill=GREEN)
    yes.bind(on_release=lambda *_: answer(k, True))
    no.bind(on_release=lambda *_: answer(k, False))
    choice.add_widget(yes)
    choice.add_widget(no)
    body.add_widget(choice)
    return body


def signage(k: Kiosk) -> str:
    """The hall's camera notice ([faces] signage), in the kiosk's language."""
    faces = k.hall.faces
    return faces.signage_en if k.lang == "en" and faces.signage_en else faces.signage
