"""Face-recognition consent: purpose, retention and withdrawal, consent and refusal as equal choices.

The decision is a durable ``consent.recorded`` event for the holder of the ID
card tapped; the vision service acts on it (enrols the face from the camera
facing this kiosk, or deletes it) and answers with its own events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk_ui.icons import Icon
from kiosk_ui.kiosk.queueing import who
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
    info = Panel(fill=WHITE, orientation="vertical", padding=16, spacing=6)
    for key in ("consent.purpose", "consent.retention", "consent.withdraw"):
        info.add_widget(Text(k.t(key, days=k.cfg.face_retention_days), size=k.fs(26), halign="left", kid=key))
    body.add_widget(info)
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


def _decide(k: Kiosk, decision: str) -> None:
    """Record the decision (durable ``consent.recorded``); the vision service acts on that record."""
    assert k.visit.customer is not None
    customer = {"hash": k.visit.customer["hash"], "masked": k.visit.customer["masked"]}
    record = {
        "customer": customer,
        "purpose": "face_recognition",
        "screen": "consent",
        "decision": decision,
        "kiosk": k.cfg.kiosk_id,
    }
    if k.busy:
        return
    k.busy = True

    def recorded(_: Any) -> None:
        if decision == "granted":
            # the vision service acts on the recorded consent: it takes the face from the camera
            # facing this kiosk and answers face.enrolled or face.enroll_failed
            k.busy = False
            k.await_enrolment(customer["masked"])
            return
        # declined: nothing more; withdrawn: the vision service deletes the face on the same record
        k.show_done(decision if decision == "declined" else "revoked")

    k.link.publish("consent.recorded", record, on_ok=recorded, on_err=k.refused)
