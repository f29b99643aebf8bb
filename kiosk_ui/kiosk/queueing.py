"""The queueing screens: attract, businesses, ticket, appointment, elderly.

Each function builds the body of one screen from the kiosk's state; the kiosk
calls it again whenever the state changes. The number a customer must remember
is the largest thing on the screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk_ui.common import keypad, local_name, message
from kiosk_ui.icons import Icon
from kiosk_ui.kiosk import faceflow
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import (
    GREEN,
    GREEN_LIGHT,
    GREY,
    INK,
    MUTED,
    ORANGE,
    RED,
    RED_LIGHT,
    WHITE,
    Btn,
    Panel,
    Text,
    Tile,
)

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk


def register(screens: Registry[Kiosk]) -> None:
    screens.add("attract", attract, timeout=None, footer=False)
    screens.add("businesses", businesses)
    screens.add("ticket", ticket)
    screens.add("appointment", appointment)
    screens.add("elderly", elderly)


def _business_name(k: Kiosk, b: Any) -> str:
    if isinstance(b, dict):
        return local_name(k, b.get("name"), b.get("name_en"))
    return local_name(k, b.name, b.name_en)


def _waiting(k: Kiosk) -> dict[str, int]:
    if not k.status:
        return {}
    return {b["code"]: int(b["waiting"]) for b in k.status["businesses"]}


def who(customer: dict[str, Any]) -> str:
    """The masked name (when the card has one) and the masked number."""
    return " ".join(str(p) for p in (customer.get("name_masked"), customer.get("masked")) if p)


def identity(k: Kiosk, box: BoxLayout, hint_key: str) -> None:
    """Who the kiosk has identified (by card), or a hint to tap a card."""
    customer = k.visit.customer
    if customer is not None:
        text = k.t("biz.identified", who=who(customer))
        panel = Panel(fill=GREEN_LIGHT, size_hint_y=None, height=k.fs(64), padding=8)
        panel.add_widget(Text(text, size=k.fs(28), color=GREEN, bold=True, kid="identified"))
    else:
        panel = Panel(fill=WHITE, size_hint_y=None, height=k.fs(64), padding=8, border=GREY)
        panel.add_widget(Text(k.t(hint_key), size=k.fs(26), color=MUTED, kid="identify.hint"))
    box.add_widget(panel)


def attract(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = BoxLayout(orientation="vertical", spacing=18, size_hint_x=0.58)
    take = Btn(k.t("attract.take"), kid="attract.take", size=k.fs(64), sub=k.t("attract.take.sub"), icon="ticket")
    take.size_hint_y = 0.42
    take.bind(on_release=lambda *_: k.go("businesses"))
    left.add_widget(take)
    row = BoxLayout(orientation="horizontal", spacing=18, size_hint_y=0.26)
    for kid, key, icon, action in (
        ("attract.appointment", "attract.appointment", "appointment", lambda *_: k.go("appointment")),
        ("attract.lookup", "attract.lookup", "usage", lambda *_: k.lookup_customer()),
        ("attract.elderly", "attract.elderly", "elderly", lambda *_: _elderly(k)),
    ):
        tile = Tile(k.t(key), kid=kid, icon=icon, size=k.fs(30))
        tile.bind(on_release=action)
        row.add_widget(tile)
    left.add_widget(row)
    face = Panel(fill=GREEN_LIGHT, orientation="horizontal", size_hint_y=0.32, padding=16, spacing=14)
    face.add_widget(Icon("face", color=GREEN, size_hint_x=0.12))
    notice = Text(
        faceflow.signage(k), size=k.fs(20, grow=False), color=INK, halign="left", size_hint_x=0.56, kid="signage"
    )
    face.add_widget(notice)  # its panel does not grow in large type: the notice keeps its size to fit it
    buttons = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.32)
    if k.cfg.face_ticket:
        by_face = Btn(k.t("attract.face.ticket"), kid="attract.face.ticket", size=k.fs(26), fill=GREEN)
        by_face.bind(on_release=lambda *_: faceflow.start_ticket(k))
        buttons.add_widget(by_face)
    enrol = Btn(k.t("attract.face"), kid="attract.face", size=k.fs(22), fill=WHITE, color=GREEN, border=GREEN)
    enrol.bind(on_release=lambda *_: k.go("consent"))
    buttons.add_widget(enrol)
    face.add_widget(buttons)
    left.add_widget(face)
    body.add_widget(left)

    right = BoxLayout(orientation="vertical", spacing=18, size_hint_x=0.42)
    calling = Panel(fill=WHITE, orientation="vertical", padding=16, spacing=6, size_hint_y=0.55)
    calling.add_widget(Text(k.t("attract.calling"), size=k.fs(30), color=GREEN, bold=True, size_hint_y=None))
    rows = (k.status or {}).get("calling", [])[:4]
    for t in rows:
        counter = t.get("counter") or ""
        known: dict[str, Any] = next((c for c in (k.status or {}).get("counters", []) if c["id"] == counter), {})
        name = local_name(k, known.get("name") or counter, known.get("name_en") or f"counter {counter}")
        calling.add_widget(
            Text(k.t("attract.calling.row", number=t["number"], counter=name), size=k.fs(36), color=ORANGE, bold=True)
        )
    if not rows:
        calling.add_widget(Text(k.t("attract.calling.none"), size=k.fs(28), color=MUTED))
    right.add_widget(calling)
    waiting = Panel(fill=WHITE, orientation="vertical", padding=16, spacing=4, size_hint_y=0.45)
    waiting.add_widget(Text(k.t("attract.waiting"), size=k.fs(28), color=GREEN, bold=True, size_hint_y=None))
    counts = _waiting(k)
    for b in k.businesses():
        if b.code in counts:
            line = k.t("attract.waiting.row", name=_business_name(k, b), waiting=counts[b.code])
            waiting.add_widget(Text(line, size=k.fs(28), kid=f"waiting.{b.code}"))
    right.add_widget(waiting)
    body.add_widget(right)
    return body


def _elderly(k: Kiosk) -> None:
    k.visit.elderly = True
    k.visit.green = True
    k.go("elderly")


def businesses(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=14)
    body.add_widget(Text(k.t("biz.title"), size=k.fs(40), bold=True, size_hint_y=None))
    identity(k, body, "biz.identify")
    message(k, body)
    offers = k.businesses()
    grid = GridLayout(cols=min(4, max(2, len(offers))), spacing=18)
    counts = _waiting(k)
    for b in offers:
        sub = k.t("biz.waiting", waiting=counts[b.code]) if b.code in counts else ""
        tile = Tile(_business_name(k, b), kid=f"biz.{b.code}", icon=b.icon, sub=sub, size=k.fs(36))
        tile.bind(on_release=lambda _w, code=b.code: k.take(code))
        grid.add_widget(tile)
    body.add_widget(grid)
    if any(b.green_channel for b in offers):
        on = k.visit.green
        fill, color = (GREEN, WHITE) if on else (WHITE, GREEN)
        green = Btn(
            k.t("biz.green.on" if on else "biz.green"),
            kid="biz.green",
            size=k.fs(28),
            fill=fill,
            color=color,
            border=GREEN,
            icon="green" if on else "ring",
        )
        green.size_hint_y = None
        green.height = k.fs(84)
        green.bind(on_release=lambda *_: _toggle_green(k))
        body.add_widget(green)
    return body


def _toggle_green(k: Kiosk) -> None:
    k.visit.green = not k.visit.green
    k.redraw()


def ticket(k: Kiosk) -> Widget:
    t = k.visit.ticket or {}
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    card = Panel(fill=WHITE, orientation="vertical", padding=20, size_hint_x=0.55)
    card.add_widget(Text(k.t("ticket.title"), size=k.fs(36), color=GREEN, bold=True, size_hint_y=0.14))
    card.add_widget(
        Text(local_name(k, t.get("business_name"), t.get("business_name_en")), size=k.fs(32), size_hint_y=0.12)
    )
    card.add_widget(Text(str(t.get("number", "")), size=k.fs(170), color=ORANGE, bold=True, kid="ticket.number"))
    notes = []
    if t.get("priority") == "green":
        notes.append(k.t("ticket.green"))
    if t.get("priority") == "appointment":
        notes.append(k.t("ticket.appointment"))
    if t.get("note") == "appointment_lapsed":
        notes.append(k.t("ticket.lapsed"))
    if notes:
        card.add_widget(Text(" · ".join(notes), size=k.fs(26), color=GREEN, size_hint_y=0.12))
    body.add_widget(card)
    side = BoxLayout(orientation="vertical", spacing=18, size_hint_x=0.45)
    side.add_widget(
        Text(k.t("ticket.ahead", ahead=t.get("people_ahead", 0)), size=k.fs(38), bold=True, kid="ticket.ahead")
    )
    side.add_widget(Text(wait_text(k, t), size=k.fs(32), kid="ticket.wait"))
    state = k.visit.print_state
    fill, color = {"printed": (GREEN_LIGHT, GREEN), "printing": (WHITE, MUTED)}.get(state, (RED_LIGHT, RED))
    printing = Panel(fill=fill, padding=14)
    printing.add_widget(Text(k.t(f"ticket.{state}"), size=k.fs(30), color=color, bold=True, kid="ticket.print"))
    side.add_widget(printing)
    done = Btn(k.t("ticket.done"), kid="ticket.done", size=k.fs(36))
    done.bind(on_release=lambda *_: k.home())
    side.add_widget(done)
    body.add_widget(side)
    return body


def wait_text(k: Kiosk, t: dict[str, Any]) -> str:
    """The wait as the core estimated it; when no counter serving the business is open, says so first."""
    if t.get("counters_open") == 0 or t.get("wait_minutes") is None:
        after = t.get("wait_minutes_after_opening")
        if after is None:
            return k.t("ticket.no_counter")
        if after == 0:
            return k.t("ticket.no_counter") + "\n" + k.t("ticket.first_after_opening")
        return k.t("ticket.no_counter") + "\n" + k.t("ticket.wait_after_opening", minutes=after)
    return k.t("ticket.wait", minutes=t.get("wait_minutes", 0))


def appointment(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.5)
    left.add_widget(Text(k.t("appt.title"), size=k.fs(40), bold=True, size_hint_y=0.15))
    left.add_widget(Text(k.t("appt.hint"), size=k.fs(28), color=MUTED, size_hint_y=0.2))
    shown = Panel(fill=WHITE, border=GREEN, size_hint_y=0.2)
    shown.add_widget(Text(k.t("appt.code", code=k.visit.code or "—"), size=k.fs(44), bold=True, kid="appt.code"))
    left.add_widget(shown)
    message(k, left)
    left.add_widget(Icon("appointment", color=GREEN, size_hint_y=0.35))
    body.add_widget(left)

    def key(value: str) -> None:
        if value == "clear":
            k.visit.code = ""
        elif value == "ok":
            if len(k.visit.code) >= 4:
                k.checkin({"code": k.visit.code})
            return
        elif len(k.visit.code) < 16:
            k.visit.code += value
        k.message = None
        k.redraw()

    body.add_widget(keypad(k, key, kid="appt", extra=((k.t("appt.clear"), "clear"), (k.t("appt.submit"), "ok"))))
    return body


def elderly(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=24, spacing=18)
    body.add_widget(Text(k.t("elderly.title"), size=k.fs(40), bold=True, size_hint_y=None))
    body.add_widget(Text(k.t("elderly.sub"), size=k.fs(28), color=MUTED, size_hint_y=None))
    message(k, body)
    offers = k.businesses()
    chosen = [b for b in offers if b.green_channel][:4] or offers[:4]
    grid = GridLayout(cols=2 if len(chosen) == 4 else len(chosen), spacing=18)
    for b in chosen:
        tile = Tile(_business_name(k, b), kid=f"biz.{b.code}", icon=b.icon, size=k.fs(40))
        tile.bind(on_release=lambda _w, code=b.code: k.take(code))
        grid.add_widget(tile)
    body.add_widget(grid)
    staff = Btn(k.t("elderly.staff"), kid="elderly.staff", size=k.fs(40), fill=ORANGE, icon="staff")
    staff.size_hint_y = 0.45
    staff.bind(
        on_release=lambda *_: k.publish("staff.requested", {"kiosk": k.cfg.kiosk_id, "reason": "elderly"}, "staff")
    )
    body.add_widget(staff)
    return body
