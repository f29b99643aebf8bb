"""The repair flow at the kiosk: the report with a phone number, the slip's reference, and "my report".

``repair`` takes the fault type, its area and the phone a crew calls (a keypad),
and asks the core (``repair.report``); ``repair_sent`` shows the reference number
large and whether the printer printed the slip (``printer.printed`` naming the
report). ``myrepair`` finds the customer's reports by card, or one by the nine
digits of its reference typed on a keypad (``repair.lookup``), with the status
HQ's crew last sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk_ui.common import keypad, message
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, GREY, INK, MUTED, ORANGE, WHITE, Btn, Panel, Text

if TYPE_CHECKING:
    from kiosk_ui.kiosk.kiosk import Kiosk

REPAIR_KINDS = ("no_power", "flicker", "meter", "line")
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{9,11})$")


def register(screens: Registry[Kiosk]) -> None:
    screens.add("repair", repair, back="lookup")
    screens.add("repair_sent", sent, back="lookup")
    screens.add("myrepair", mine, back="lookup")


def _title(k: Kiosk, box: BoxLayout, key: str) -> None:
    box.add_widget(Text(k.t(key), size=k.fs(40), bold=True, halign="left", size_hint_y=None, height=k.fs(60)))


def _choice(k: Kiosk, label: str, kid: str, chosen: bool, on_pick: Any) -> Btn:
    fill, color = (GREEN, WHITE) if chosen else (WHITE, INK)
    b = Btn(label, kid=kid, size=k.fs(26), fill=fill, color=color, border=GREY)
    b.bind(on_release=lambda *_: on_pick())
    return b


def repair(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 12), spacing=10)
    _title(k, body, "repair.title")
    message(k, body)
    row = BoxLayout(orientation="horizontal", spacing=24)
    left = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.58)
    left.add_widget(Text(k.t("repair.kind"), size=k.fs(26), color=MUTED, size_hint_y=None, height=k.fs(40)))
    kinds = GridLayout(cols=2, spacing=12)
    for kind in REPAIR_KINDS:
        kinds.add_widget(_choice(k, k.t(f"repair.kind.{kind}"), f"repair.kind.{kind}", kind == k.repair.kind,
                                 lambda kind=kind: _set(k, kind=kind)))  # fmt: skip
    left.add_widget(kinds)
    left.add_widget(Text(k.t("repair.area"), size=k.fs(26), color=MUTED, size_hint_y=None, height=k.fs(40)))
    areas = GridLayout(cols=2, spacing=12)
    for i, area in enumerate(k.cfg.outage_areas):
        areas.add_widget(_choice(k, area, f"repair.area.{i}", area == k.repair.area, lambda a=area: _set(k, area=a)))
    left.add_widget(areas)
    row.add_widget(left)

    right = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.42)
    right.add_widget(Text(k.t("repair.phone"), size=k.fs(26), color=MUTED, size_hint_y=None, height=k.fs(40)))
    shown = Panel(fill=WHITE, border=GREEN, size_hint_y=None, height=k.fs(70))
    shown.add_widget(Text(k.repair.phone or "—", size=k.fs(40), bold=True, kid="repair.phone"))
    right.add_widget(shown)

    def key(value: str) -> None:
        if value == "clear":
            k.repair.phone = ""
        elif value == "ok":
            _send(k)
            return
        elif len(k.repair.phone) < 12:
            k.repair.phone += value
        k.message = None
        k.redraw()

    right.add_widget(
        keypad(k, key, kid="repair.key", extra=((k.t("appt.clear"), "clear"), (k.t("repair.submit"), "ok")))
    )
    row.add_widget(right)
    body.add_widget(row)
    return body


def _set(k: Kiosk, *, kind: str | None = None, area: str | None = None) -> None:
    k.repair.kind = kind or k.repair.kind
    k.repair.area = area or k.repair.area
    k.message = None
    k.redraw()


def _send(k: Kiosk) -> None:
    if k.repair.kind is None or k.repair.area is None:
        k.say("repair.incomplete")
        return
    if not PHONE.match(k.repair.phone):
        k.say("repair.phone.bad")
        return
    if k.busy:
        return
    k.busy = True
    data: dict[str, Any] = {"kiosk": k.cfg.kiosk_id, "kind": k.repair.kind, "area": k.repair.area,
                            "phone": k.repair.phone}  # fmt: skip
    customer = k.visit.customer
    if customer is not None:
        data["customer"] = {key: customer[key] for key in ("kind", "hash", "masked", "name_masked") if key in customer}

    def done(reply: dict[str, Any]) -> None:
        k.busy = False
        k.repair.sent = reply
        k.go("repair_sent")

    k.link.call("repair.report", data, on_ok=done, on_err=k.refused)


def sent(k: Kiosk) -> Widget:
    reply = k.repair.sent or {}
    body = Panel(fill=WHITE, orientation="vertical", padding=40, spacing=14)
    body.add_widget(Text(k.t("repair.done"), size=k.fs(44), bold=True, color=GREEN))
    body.add_widget(Text(k.t("repair.reference"), size=k.fs(28), color=MUTED))
    body.add_widget(Text(str(reply.get("reference", "")), size=k.fs(72), bold=True, kid="repair.reference"))
    printed = k.printer_seen.get("repair:" + str(reply.get("reference", "")))
    note = {"printed": "repair.slip.printed", "failed": "repair.slip.failed"}.get(printed or "", "repair.slip.wait")
    body.add_widget(Text(k.t(note), size=k.fs(28), color=ORANGE if printed == "failed" else MUTED, kid="repair.slip"))
    body.add_widget(Text(k.t("repair.done.sub", phone=reply.get("phone_masked", "")), size=k.fs(26), color=MUTED))
    outer = BoxLayout(padding=40)
    outer.add_widget(body)
    return outer


def mine(k: Kiosk) -> Widget:
    body = BoxLayout(orientation="vertical", padding=(24, 12), spacing=10)
    _title(k, body, "myrepair.title")
    message(k, body)
    row = BoxLayout(orientation="horizontal", spacing=24)
    left = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.6)
    reports = k.repair.mine
    if reports is None:
        hint = "myrepair.hint.card" if k.visit.customer is None else "myrepair.looking"
        left.add_widget(Text(k.t(hint), size=k.fs(28), color=MUTED))
    elif not reports:
        left.add_widget(Text(k.t("myrepair.none"), size=k.fs(30), color=MUTED, kid="myrepair.none"))
    for r in (reports or [])[:3]:
        panel = Panel(fill=WHITE, orientation="vertical", padding=12, border=GREY)
        state = k.t(f"myrepair.state.{r['state']}")
        panel.add_widget(Text(f"{r['reference']}   {state}", size=k.fs(30), bold=True, halign="left",
                              kid=f"myrepair.{r['reference']}"))  # fmt: skip
        line = k.t(f"repair.kind.{r['kind']}") + (f" · {r['where']}" if r.get("where") else "")
        panel.add_widget(Text(line, size=k.fs(24), color=MUTED, halign="left"))
        if r.get("note"):
            panel.add_widget(Text(r["note"], size=k.fs(26), halign="left", kid=f"myrepair.note.{r['reference']}"))
        left.add_widget(panel)
    for _ in range(3 - len((reports or [])[:3])):
        left.add_widget(Widget())  # room for three reports, each a third of the column
    row.add_widget(left)

    right = BoxLayout(orientation="vertical", spacing=10, size_hint_x=0.4)
    right.add_widget(Text(k.t("myrepair.by_number"), size=k.fs(24), color=MUTED, size_hint_y=None, height=k.fs(40)))
    shown = Panel(fill=WHITE, border=GREEN, size_hint_y=None, height=k.fs(64))
    digits = k.repair.ref_digits
    typed = f"BX-{digits[:6]}" + (f"-{digits[6:]}" if len(digits) > 6 else "")
    shown.add_widget(Text(typed, size=k.fs(36), bold=True, kid="myrepair.typed"))
    right.add_widget(shown)

    def key(value: str) -> None:
        if value == "clear":
            k.repair.ref_digits = ""
        elif value == "ok":
            if len(k.repair.ref_digits) >= 9:
                d = k.repair.ref_digits
                find(k, {"reference": f"BX-{d[:6]}-{d[6:]}"})
            return
        elif len(k.repair.ref_digits) < 10:
            k.repair.ref_digits += value
        k.redraw()

    right.add_widget(keypad(k, key, kid="myrepair.key", extra=((k.t("appt.clear"), "clear"), (k.t("pin.ok"), "ok"))))
    row.add_widget(right)
    body.add_widget(row)
    return body


def find(k: Kiosk, query: dict[str, Any]) -> None:
    """Ask the core for reports (by reference, or the card's), and show them."""

    def found(result: dict[str, Any]) -> None:
        k.repair.mine = result["reports"]
        if k.screen == "myrepair":
            k.redraw()

    k.link.call("repair.lookup", query, on_ok=found, on_err=k.refused)


def open_mine(k: Kiosk) -> None:
    """The "my report" screen; a customer who tapped a card sees their reports at once."""
    k.repair.mine = None
    customer = k.visit.customer
    if customer is not None:
        find(k, {"customer_hash": customer["hash"], "also": customer.get("also", [])})
    k.go("myrepair")
