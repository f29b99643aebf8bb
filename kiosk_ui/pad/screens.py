"""The pad's screens: idle, called, form, signature, signed (and the shared offline, PIN, done, rating).

The customer sits across the counter from the clerk: text is large, the form
reads as label and value in two columns with the terms beside it, and the two
choices (ask for a correction, confirm) are far apart and clearly different.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk_ui import common, rating
from kiosk_ui.common import local_name, message
from kiosk_ui.icons import Icon
from kiosk_ui.pad.signing import SignatureArea
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import (
    GREEN,
    GREEN_LIGHT,
    GREY,
    MUTED,
    ORANGE,
    ORANGE_LIGHT,
    WHITE,
    Btn,
    Panel,
    Text,
)

if TYPE_CHECKING:
    from kiosk_ui.pad.pad import Pad

SCREENS: Registry[Pad] = Registry("pad")


def _form_timeout(p: Pad) -> float:
    return float(p.cfg.form_timeout_s)


def _signed_timeout(p: Pad) -> float:
    return float(p.cfg.signed_show_s)


def header_extras(p: Pad) -> list[Widget]:
    """The counter's name, and the large-text switch, in the pad's header."""
    name = Text(p.counter_name(), size=p.fs(30, grow=False), color=WHITE, bold=True, kid="pad.counter")
    name.size_hint_x = 0.17
    label = p.t("pad.large.off" if p.large else "pad.large")
    large = Btn(label, kid="pad.large", size=p.fs(26, grow=False), fill=WHITE, color=GREEN)
    large.size_hint_x = 0.15
    large.bind(on_release=lambda *_: p.toggle_large())
    return [name, large]


def idle(p: Pad) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=(48, 32), spacing=36)
    body.add_widget(Icon("form", color=GREEN, size_hint_x=0.32))
    right = BoxLayout(orientation="vertical", spacing=18, size_hint_x=0.68)
    counter = p.desk.counter or {}
    if p.unknown_counter:
        right.add_widget(Text(p.t("pad.unknown", counter=p.counter), size=p.fs(36), color=ORANGE, kid="pad.unknown"))
        body.add_widget(right)
        return body
    right.add_widget(Text(p.t("pad.idle.welcome"), size=p.fs(72), bold=True, color=GREEN, kid="pad.welcome"))
    if counter and counter.get("state") != "open":
        right.add_widget(Text(p.t("pad.idle.closed"), size=p.fs(40), color=MUTED, kid="pad.closed"))
    elif counter.get("staff"):
        shown = counter.get("staff_display") or counter["staff"]
        line = p.t("pad.idle.staff", counter=p.counter_name(), staff=shown)
        right.add_widget(Text(line, size=p.fs(40), kid="pad.staff"))
    right.add_widget(Text(p.t("pad.idle.sub"), size=p.fs(30), color=MUTED))
    body.add_widget(right)
    return body


def called(p: Pad) -> Widget:
    t = p.desk.ticket or {}
    body = BoxLayout(orientation="horizontal", padding=(36, 28), spacing=32)
    card = Panel(fill=WHITE, orientation="vertical", padding=24, size_hint_x=0.5)
    card.add_widget(Text(p.t("pad.called.title"), size=p.fs(36), color=GREEN, bold=True, size_hint_y=0.18))
    card.add_widget(Text(str(t.get("number", "")), size=p.fs(170), color=ORANGE, bold=True, kid="pad.number"))
    business = local_name(p, t.get("business_name"), t.get("business_name_en"))
    card.add_widget(Text(business, size=p.fs(36), size_hint_y=0.18, kid="pad.business"))
    body.add_widget(card)
    side = BoxLayout(orientation="vertical", spacing=20, size_hint_x=0.5)
    customer = t.get("customer")
    if isinstance(customer, dict):
        who = " ".join(str(x) for x in (customer.get("name_masked"), customer.get("masked")) if x)
        side.add_widget(Text(p.t("pad.called.who", who=who), size=p.fs(34), kid="pad.who"))
    staff = (p.desk.counter or {}).get("staff_display") or (p.desk.counter or {}).get("staff")
    if staff:
        side.add_widget(Text(p.t("pad.called.staff", staff=staff), size=p.fs(34), color=GREEN, bold=True))
    side.add_widget(Text(p.t("pad.called.sub"), size=p.fs(30), color=MUTED))
    body.add_widget(side)
    return body


class _Row(ButtonBehavior, Panel):
    """One field of the form: label and value; touching it marks it for the clerk to correct."""

    def __init__(self, kid: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.kid = kid


def _field_row(p: Pad, field: dict[str, Any]) -> Widget:
    key = field["key"]
    flagged, changed = key in p.reading.flagged, key in p.reading.changed
    fill, border = (ORANGE_LIGHT, ORANGE) if flagged else (GREEN_LIGHT, GREEN) if changed else (WHITE, None)
    row = _Row(
        f"form.field.{key}",
        fill=fill,
        border=border,
        radius=10,
        orientation="horizontal",
        padding=(16, 4),
        spacing=12,
        size_hint_y=None,
        height=p.fs(64),
    )
    label = local_name(p, field["label"], field.get("label_en"))
    row.add_widget(Text(label, size=p.fs(27), color=MUTED, halign="left", size_hint_x=0.3))
    value = Text(field.get("value") or "—", size=p.fs(30), bold=True, halign="left", size_hint_x=0.56)
    value.kid = f"form.value.{key}"
    row.add_widget(value)
    note = p.t("pad.form.flagged") if flagged else p.t("pad.form.changed") if changed else ""
    row.add_widget(Text(note, size=p.fs(22), color=ORANGE if flagged else GREEN, bold=True, size_hint_x=0.14))
    row.bind(on_release=lambda *_: p.flag(key))
    return row


def form(p: Pad) -> Widget:
    f = p.reading.form or {}
    body = BoxLayout(orientation="vertical", padding=(24, 12), spacing=10)
    top = BoxLayout(orientation="horizontal", size_hint_y=None, height=p.fs(60))
    title = local_name(p, f.get("title"), f.get("title_en"))
    top.add_widget(Text(title, size=p.fs(38), bold=True, halign="left", size_hint_x=0.6, kid="form.title"))
    number = (f.get("ticket") or {}).get("number", "")
    top.add_widget(Text(p.t("pad.form.check", number=number), size=p.fs(26), color=MUTED, halign="right"))
    body.add_widget(top)
    if p.reading.changed and p.message is None:
        note = Panel(fill=GREEN_LIGHT, size_hint_y=None, height=p.fs(56), padding=8)
        note.add_widget(Text(p.t("pad.form.updated"), size=p.fs(26), color=GREEN, bold=True, kid="form.updated"))
        body.add_widget(note)
    message(p, body)
    main = BoxLayout(orientation="horizontal", spacing=18)
    fields = GridLayout(cols=1, spacing=8, size_hint_y=None, padding=(0, 0, 8, 0))
    fields.bind(minimum_height=fields.setter("height"))
    for field in f.get("fields", []):
        fields.add_widget(_field_row(p, field))
    left = BoxLayout(orientation="vertical", spacing=6, size_hint_x=0.6)
    scroll = ScrollView(do_scroll_x=False, bar_width=8)
    scroll.add_widget(fields)
    left.add_widget(scroll)
    left.add_widget(Text(p.t("pad.form.hint"), size=p.fs(22), color=MUTED, size_hint_y=None, height=p.fs(36)))
    main.add_widget(left)
    right = BoxLayout(orientation="vertical", spacing=12, size_hint_x=0.4)
    terms = Panel(fill=WHITE, orientation="vertical", padding=14, spacing=6, border=GREY)
    terms.add_widget(Text(p.t("pad.form.terms"), size=p.fs(26), color=GREEN, bold=True, size_hint_y=None))
    listed = f.get("terms_en") if p.lang == "en" and f.get("terms_en") else f.get("terms", [])
    column = BoxLayout(orientation="vertical", spacing=8, size_hint_y=None)
    column.bind(minimum_height=column.setter("height"))
    for i, term in enumerate(listed or [], start=1):
        numbered = f"{i}. {term}" if p.lang == "en" else f"{i}、{term}"  # no space: Chinese wraps by character
        column.add_widget(Text(numbered, size=p.fs(22), halign="left", size_hint_y=None, kid=f"form.term.{i}"))
    text_scroll = ScrollView(do_scroll_x=False, bar_width=6)
    text_scroll.add_widget(column)
    terms.add_widget(text_scroll)
    right.add_widget(terms)
    ask = Btn(p.t("pad.form.ask"), kid="form.ask", size=p.fs(28), fill=WHITE, color=ORANGE, border=ORANGE)
    ask.size_hint_y = 0.22
    ask.bind(on_release=lambda *_: p.ask_correction())
    right.add_widget(ask)
    confirm = Btn(p.t("pad.form.confirm"), kid="form.confirm", size=p.fs(34), icon="pen")
    confirm.size_hint_y = 0.3
    confirm.bind(on_release=lambda *_: p.confirm())
    right.add_widget(confirm)
    main.add_widget(right)
    body.add_widget(main)
    return body


def signature(p: Pad) -> Widget:
    f = p.reading.form or {}
    body = BoxLayout(orientation="vertical", padding=(24, 12), spacing=10)
    top = BoxLayout(orientation="horizontal", size_hint_y=None, height=p.fs(60))
    top.add_widget(Text(p.t("pad.sign.title"), size=p.fs(38), bold=True, halign="left", size_hint_x=0.6))
    what = p.t("pad.sign.form", title=local_name(p, f.get("title"), f.get("title_en")))
    top.add_widget(Text(what, size=p.fs(26), color=MUTED, halign="right", kid="sign.form"))
    body.add_widget(top)
    message(p, body)
    body.add_widget(SignatureArea(p.signing, on_change=p.signature_changed, hint=p.t("pad.sign.here")))
    row = BoxLayout(orientation="horizontal", spacing=24, size_hint_y=None, height=p.fs(100))
    clear = Btn(p.t("pad.sign.clear"), kid="sign.clear", size=p.fs(30), fill=WHITE, color=GREEN, border=GREEN)
    clear.size_hint_x = 0.3
    clear.bind(on_release=lambda *_: p.clear_signature())
    row.add_widget(clear)
    row.add_widget(Text(p.t("pad.sign.sub"), size=p.fs(24), color=MUTED, size_hint_x=0.3))
    done = Btn(p.t("pad.sign.done"), kid="sign.done", size=p.fs(34), icon="green")
    done.size_hint_x = 0.4
    done.bind(on_release=lambda *_: p.sign())
    row.add_widget(done)
    body.add_widget(row)
    return body


def signed(p: Pad) -> Widget:
    record = p.signed.record or {}
    body = Panel(fill=WHITE, orientation="vertical", padding=40, spacing=14)
    body.add_widget(Icon("green", color=GREEN, size_hint_y=0.9))
    body.add_widget(Text(p.t("pad.signed.title"), size=p.fs(50), bold=True, color=GREEN, kid="signed.title"))
    body.add_widget(Text(p.t("pad.signed.record", id=record.get("id", "")), size=p.fs(34), kid="signed.record"))
    short = str(record.get("digest", ""))[:16]
    body.add_widget(Text(p.t("pad.signed.digest", digest=short), size=p.fs(26), color=MUTED, kid="signed.digest"))
    body.add_widget(Text(p.t("pad.signed.receipt"), size=p.fs(28), color=MUTED))
    ok = Btn(p.t("msg.ok"), kid="signed.ok", size=p.fs(34), size_hint=(0.36, None), pos_hint={"center_x": 0.5})
    ok.height = p.fs(88)
    ok.bind(on_release=lambda *_: p.home())
    body.add_widget(ok)
    outer = BoxLayout(padding=36)
    outer.add_widget(body)
    return outer


SCREENS.add("idle", idle, timeout=None, footer=False)
SCREENS.add("called", called, timeout=None, footer=False)
SCREENS.add("form", form, timeout=_form_timeout, footer=False)
SCREENS.add("signature", signature, timeout=_form_timeout, footer=False)
SCREENS.add("signed", signed, timeout=_signed_timeout, footer=False)
common.register(SCREENS, footer=False)
rating.register(SCREENS, footer=False)
