"""The queueing screens: attract, businesses, ticket, appointment, elderly, offline, PIN, done.

Each function builds the body of one screen from the kiosk's state; the kiosk
calls it again whenever the state changes. Touch targets are at least ~90 px
high, the number a customer must remember is the largest thing on the screen.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk_ui.icons import Icon
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
    from kiosk_ui.kiosk import Kiosk


def header(k: Kiosk) -> Widget:
    bar = Panel(fill=GREEN, radius=0, orientation="horizontal", size_hint_y=None, height=k.fs(84), padding=(24, 6))
    hall = k.status["hall"] if k.status else {"name": k.hall.hall.name, "name_en": k.hall.hall.name_en}
    name = hall["name_en"] if k.lang == "en" and hall.get("name_en") else hall["name"]
    title = Btn(name, kid="hall.name", size=k.fs(34), fill=GREEN, size_hint_x=0.62)
    title.label.halign = "left"
    title.bind(on_release=lambda *_: k.tap_hall_name())
    bar.add_widget(title)
    k.clock_label = Text(hall_clock(k), size=k.fs(34), color=WHITE, size_hint_x=0.18)
    bar.add_widget(k.clock_label)
    toggle = Btn(k.t("lang.toggle"), kid="lang", size=k.fs(28), fill=WHITE, color=GREEN, size_hint_x=0.2)
    toggle.bind(on_release=lambda *_: k.toggle_language())
    bar.add_widget(toggle)
    return bar


def hall_clock(k: Kiosk) -> str:
    """The time on the hall's clock (its configured zone, whatever the box's own zone is)."""
    return datetime.now(ZoneInfo(k.hall.hall.timezone)).strftime("%H:%M")


def update_clock(k: Kiosk) -> None:
    label = getattr(k, "clock_label", None)
    if label is not None:
        label.text = hall_clock(k)


BACK_TO_LOOKUP = ("bill", "usage", "outages", "repair")


def footer(k: Kiosk) -> Widget:
    bar = BoxLayout(orientation="horizontal", size_hint_y=None, height=k.fs(96), padding=(24, 10), spacing=20)
    if not k.online:
        bar.add_widget(Text(k.t("offline.banner"), size=k.fs(26), color=RED))
    else:
        bar.add_widget(Widget())
    if k.screen in BACK_TO_LOOKUP:
        back = Btn(k.t("nav.back"), kid="nav.back", size=k.fs(30), fill=WHITE, color=GREEN, border=GREEN)
        back.size_hint_x = 0.3
        back.bind(on_release=lambda *_: k.go("lookup"))
        bar.add_widget(back)
    if k.screen not in ("offline",):
        home = Btn(k.t("nav.home"), kid="nav.home", size=k.fs(30), fill=WHITE, color=GREEN, border=GREEN)
        home.size_hint_x = 0.3
        home.bind(on_release=lambda *_: k.home())
        bar.add_widget(home)
    return bar


def message(k: Kiosk, box: BoxLayout) -> None:
    """Add the current message (if any) as a red panel to ``box``."""
    if k.message is None:
        return
    key, values = k.message
    panel = Panel(fill=RED_LIGHT, size_hint_y=None, height=k.fs(80), padding=10)
    panel.add_widget(Text(k.t(key, **values), kid="message", size=k.fs(28), color=RED))
    box.add_widget(panel)


def _business_name(k: Kiosk, b: Any) -> str:
    name_en = b.get("name_en") if isinstance(b, dict) else b.name_en
    name = b.get("name") if isinstance(b, dict) else b.name
    return str(name_en if k.lang == "en" and name_en else name)


def _waiting(k: Kiosk) -> dict[str, int]:
    if not k.status:
        return {}
    return {b["code"]: int(b["waiting"]) for b in k.status["businesses"]}


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
    face.add_widget(Icon("face", color=GREEN, size_hint_x=0.16))
    face.add_widget(Text(k.t("attract.face.notice"), size=k.fs(24), color=INK, halign="left", size_hint_x=0.56))
    enrol = Btn(k.t("attract.face"), kid="attract.face", size=k.fs(24), fill=WHITE, color=GREEN, border=GREEN)
    enrol.size_hint_x = 0.28
    enrol.bind(on_release=lambda *_: k.go("consent"))
    face.add_widget(enrol)
    left.add_widget(face)
    body.add_widget(left)

    right = BoxLayout(orientation="vertical", spacing=18, size_hint_x=0.42)
    calling = Panel(fill=WHITE, orientation="vertical", padding=16, spacing=6, size_hint_y=0.55)
    calling.add_widget(Text(k.t("attract.calling"), size=k.fs(30), color=GREEN, bold=True, size_hint_y=None))
    rows = (k.status or {}).get("calling", [])[:4]
    for t in rows:
        counter = t.get("counter") or ""
        name = next((c["name"] for c in (k.status or {}).get("counters", []) if c["id"] == counter), counter)
        if k.lang == "en":
            name = f"counter {counter}"
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
    k.elderly = True
    k.green = True
    k.go("elderly")


def who(customer: dict[str, Any]) -> str:
    """The masked name (when the card has one) and the masked number."""
    return " ".join(str(p) for p in (customer.get("name_masked"), customer.get("masked")) if p)


def _identity(k: Kiosk, box: BoxLayout, hint_key: str) -> None:
    if k.customer is not None:
        text = k.t("biz.identified", who=who(k.customer))
        panel = Panel(fill=GREEN_LIGHT, size_hint_y=None, height=k.fs(64), padding=8)
        panel.add_widget(Text(text, size=k.fs(28), color=GREEN, bold=True, kid="identified"))
    else:
        panel = Panel(fill=WHITE, size_hint_y=None, height=k.fs(64), padding=8, border=GREY)
        panel.add_widget(Text(k.t(hint_key), size=k.fs(26), color=MUTED, kid="identify.hint"))
    box.add_widget(panel)


def businesses(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=14)
    body.add_widget(Text(k.t("biz.title"), size=k.fs(40), bold=True, size_hint_y=None))
    _identity(k, body, "biz.identify")
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
        key = "biz.green.on" if k.green else "biz.green"
        fill, color = (GREEN, WHITE) if k.green else (WHITE, GREEN)
        green = Btn(
            k.t(key),
            kid="biz.green",
            size=k.fs(28),
            fill=fill,
            color=color,
            border=GREEN,
            icon="green" if k.green else "ring",
        )
        green.size_hint_y = None
        green.height = k.fs(84)
        green.bind(on_release=lambda *_: _toggle_green(k))
        body.add_widget(green)
    return body


def _toggle_green(k: Kiosk) -> None:
    k.green = not k.green
    k.redraw()


def ticket(k: Kiosk) -> Widget:
    t = k.ticket or {}
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    card = Panel(fill=WHITE, orientation="vertical", padding=20, size_hint_x=0.55)
    card.add_widget(Text(k.t("ticket.title"), size=k.fs(36), color=GREEN, bold=True, size_hint_y=0.14))
    card.add_widget(
        Text(
            _business_name(k, {"name": t.get("business_name"), "name_en": t.get("business_name_en")}),
            size=k.fs(32),
            size_hint_y=0.12,
        )
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
    state = k.print_state
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


def keypad(k: Kiosk, on_key: Any, *, kid: str, extra: tuple[tuple[str, str], ...]) -> GridLayout:
    """A 0–9 pad with two extra keys (label, value) for clear/OK."""
    pad = GridLayout(cols=3, spacing=12)
    keys = [(str(n), str(n)) for n in range(1, 10)] + [extra[0], ("0", "0"), extra[1]]
    for label, value in keys:
        fill, color = (GREEN, WHITE) if value in ("ok",) else (WHITE, INK)
        b = Btn(label, kid=f"{kid}.{value}", size=k.fs(40), fill=fill, color=color, border=GREY)
        b.bind(on_release=lambda _w, v=value: on_key(v))
        pad.add_widget(b)
    return pad


def appointment(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.5)
    left.add_widget(Text(k.t("appt.title"), size=k.fs(40), bold=True, size_hint_y=0.15))
    left.add_widget(Text(k.t("appt.hint"), size=k.fs(28), color=MUTED, size_hint_y=0.2))
    shown = Panel(fill=WHITE, border=GREEN, size_hint_y=0.2)
    shown.add_widget(Text(k.t("appt.code", code=k.code or "—"), size=k.fs(44), bold=True, kid="appt.code"))
    left.add_widget(shown)
    message(k, left)
    left.add_widget(Icon("appointment", color=GREEN, size_hint_y=0.35))
    body.add_widget(left)

    def key(value: str) -> None:
        if value == "clear":
            k.code = ""
        elif value == "ok":
            if len(k.code) >= 4:
                k.checkin({"code": k.code})
            return
        elif len(k.code) < 16:
            k.code += value
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


def offline(k: Kiosk) -> Widget:
    body = Panel(fill=WHITE, orientation="vertical", padding=60, spacing=20)
    body.add_widget(Icon("outage", color=ORANGE, size_hint_y=1.0))
    body.add_widget(Text(k.t("offline.title"), size=k.fs(54), bold=True, kid="offline.title"))
    body.add_widget(Text(k.t("offline.sub"), size=k.fs(32), color=MUTED))
    if k.offline_tries:
        body.add_widget(Text(k.t("offline.retry", n=k.offline_tries), size=k.fs(26), color=MUTED, size_hint_y=0.2))
    outer = BoxLayout(padding=40)
    outer.add_widget(body)
    return outer


def pin(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.5)
    left.add_widget(Text(k.t("pin.title"), size=k.fs(40), bold=True))
    left.add_widget(Text(k.t("pin.hint"), size=k.fs(28), color=MUTED))
    left.add_widget(Text("●" * len(k.pin) or "—", size=k.fs(48), kid="pin.dots"))
    message(k, left)
    body.add_widget(left)

    def key(value: str) -> None:
        if value == "clear":
            k.pin = ""
        elif value == "ok":
            k.check_pin()
            return
        elif len(k.pin) < 12:
            k.pin += value
        k.message = None
        k.redraw()

    body.add_widget(keypad(k, key, kid="pin", extra=(("C", "clear"), (k.t("pin.ok"), "ok"))))
    return body


DONE = {
    "staff": ("elderly.staff.done", "staff"),
    "repair": ("repair.done", "repair"),
    "eval": ("eval.thanks", "green"),
    "declined": ("consent.declined", "face"),
    "revoked": ("consent.revoked", "face"),
    "unavailable": ("consent.unavailable", "face"),
    "enrolled": ("consent.enrolled", "face"),
    "enrolling": ("consent.enrolling", "face"),
    "enroll_failed": ("consent.enroll_failed", "face"),
}
SUBS = {"repair": "repair.done.sub"}


def done(k: Kiosk) -> Widget:
    key, icon = DONE[k.done]
    body = Panel(fill=WHITE, orientation="vertical", padding=50, spacing=20)
    body.add_widget(Icon(icon, color=GREEN, size_hint_y=1.0))
    body.add_widget(Text(k.t(key), size=k.fs(46), bold=True, color=GREEN, kid="done"))
    if k.done in SUBS:
        body.add_widget(Text(k.t(SUBS[k.done]), size=k.fs(30), color=MUTED))
    ok = Btn(k.t("msg.ok"), kid="done.ok", size=k.fs(34), size_hint=(0.4, 0.6), pos_hint={"center_x": 0.5})
    ok.bind(on_release=lambda *_: k.home())
    body.add_widget(ok)
    outer = BoxLayout(padding=40)
    outer.add_widget(body)
    return outer
