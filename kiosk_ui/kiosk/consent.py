"""Face-recognition consent: each purpose chosen on its own, retention and withdrawal, yes and no as equals.

The screen lists the purposes the hall uses faces for (:data:`edge.schemas.faces.PURPOSES`),
none ticked beforehand: 刷脸取号 for everyone, VIP 到店提醒 only for a customer HQ
tags VIP (``bundle.lookup``; for others it would never be used). It says how
long the face is kept, ``[faces] retention_days`` of the hall's config, the same
number the gallery deletes by, and how to withdraw. The decision is a durable
``consent.recorded`` event for the holder of the ID card tapped, with the
purposes chosen; the vision service acts on it (enrols the face from the camera
facing this kiosk, prompting through this screen's successor, or deletes it at
once) and answers with its own events.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.schemas.faces import PURPOSES
from kiosk_ui.common import message
from kiosk_ui.icons import Icon
from kiosk_ui.kiosk import faceflow
from kiosk_ui.kiosk.queueing import who
from kiosk_ui.kiosk.state import Face
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, MUTED, WHITE, Btn, Panel, Text

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk


def register(screens: Registry[Kiosk]) -> None:
    screens.add("consent", consent)


def consent(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 12), spacing=12)
    body.add_widget(Text(k.t("consent.title"), size=k.fs(40), bold=True, size_hint_y=None))
    if k.visit.customer is None or k.visit.customer.get("kind") != "id":
        gate = Panel(fill=WHITE, orientation="vertical", padding=30, spacing=10)
        gate.add_widget(Icon("face", color=GREEN, size_hint_y=1.4))
        gate.add_widget(Text(k.t("consent.gate"), size=k.fs(40), bold=True, kid="consent.gate"))
        gate.add_widget(Text(k.t("consent.gate.sub"), size=k.fs(28), color=MUTED))
        body.add_widget(gate)
        return body
    body.add_widget(
        Text(
            k.t("consent.who", who=who(k.visit.customer)),
            size=k.fs(28),
            color=GREEN,
            bold=True,
            size_hint_y=None,
            kid="consent.who",
        )
    )
    purposes = BoxLayout(orientation="horizontal", spacing=16, size_hint_y=0.2)
    for purpose in offered(k):
        chosen = purpose in k.consent.purposes
        fill, color = (GREEN, WHITE) if chosen else (WHITE, GREEN)
        button = Btn(
            k.t(f"consent.purpose.{purpose}"),
            kid=f"consent.purpose.{purpose}",
            size=k.fs(26),
            fill=fill,
            color=color,
            border=GREEN,
            icon="green" if chosen else "ring",
        )
        button.bind(on_release=lambda _w, p=purpose: _toggle(k, p))
        purposes.add_widget(button)
    body.add_widget(purposes)
    info = Panel(fill=WHITE, orientation="vertical", padding=16, spacing=6)
    for key in ("consent.purpose", "consent.retention", "consent.withdraw"):
        info.add_widget(Text(k.t(key, days=k.hall.faces.retention_days), size=k.fs(24), halign="left", kid=key))
    body.add_widget(info)
    message(k, body)
    choice = BoxLayout(orientation="horizontal", spacing=24, size_hint_y=0.32)
    # Consent and refusal: same size, same weight, side by side.
    yes = Btn(k.t("consent.yes"), kid="consent.yes", size=k.fs(34), fill=GREEN)
    no = Btn(k.t("consent.no"), kid="consent.no", size=k.fs(34), fill=GREEN)
    yes.bind(on_release=lambda *_: _decide(k, "granted"))
    no.bind(on_release=lambda *_: _decide(k, "declined"))
    choice.add_widget(yes)
    choice.add_widget(no)
    body.add_widget(choice)
    revoke = Btn(k.t("consent.revoke"), kid="consent.revoke", size=k.fs(26), fill=WHITE, color=GREEN, border=GREEN)
    revoke.size_hint = (0.44, 0.2)
    revoke.pos_hint = {"center_x": 0.5}
    revoke.bind(on_release=lambda *_: _decide(k, "withdrawn"))
    body.add_widget(revoke)
    return body


def offered(k: Kiosk) -> list[str]:
    """The purposes this customer may consent to: VIP arrival only when HQ tags them VIP."""
    return [p for p in PURPOSES if p != "vip_arrival" or k.consent.vip]


def looked_up(k: Kiosk, found: dict[str, Any]) -> None:
    """HQ's tags of the customer on the consent screen: a VIP-priority tag offers VIP arrival."""
    vip = {t.name for t in k.hall.tags if t.priority == "vip"}
    k.consent.vip = bool(vip & set(found.get("tags") or []))
    if k.screen == "consent":
        k.redraw()


def _toggle(k: Kiosk, purpose: str) -> None:
    k.consent.purposes ^= {purpose}
    k.message = None
    k.redraw()


def _decide(k: Kiosk, decision: str) -> None:
    """Record the decision (durable ``consent.recorded``); the vision service acts on that record."""
    assert k.visit.customer is not None
    customer = {key: k.visit.customer.get(key, "") for key in ("kind", "hash", "masked", "name_masked")}
    purposes = sorted(k.consent.purposes & set(offered(k))) if decision == "granted" else list(PURPOSES)
    if decision == "granted" and not purposes:
        k.say("consent.choose")
        return
    request = uuid.uuid4().hex
    record = {
        "customer": customer,
        "purposes": purposes,
        "screen": "consent",
        "decision": decision,
        "kiosk": k.cfg.kiosk_id,
        "request": request,
    }
    if k.busy:
        return
    k.busy = True
    if decision == "granted":
        # the vision service acts on the record at once, maybe before the core's answer reaches us: the
        # kiosk expects its prompts and answer for this request from now on
        faceflow.expect_enrolment(k, request, customer["masked"])

    def recorded(_: Any) -> None:
        if decision == "granted":
            # it takes the face from the camera facing this kiosk, asking through the prompts shown next,
            # and answers face.enrolled or face.enroll_failed
            faceflow.show_enrolment(k, request)
            return
        # declined: nothing more; withdrawn: the vision service deletes the face on the same record
        k.show_done(decision if decision == "declined" else "revoked")

    def refused(exc: Any) -> None:
        k.face = Face()
        k.refused(exc)

    k.link.publish("consent.recorded", record, on_ok=recorded, on_err=refused)
