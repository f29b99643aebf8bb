"""Parts every customer screen shares (header, footer, message, keypad) and the shared screens.

The shared screens are ``offline`` (the core does not answer), ``pin`` (the
technician exit) and ``done`` (a short outcome with an OK button);
:func:`register` adds them to an app's registry. Touch targets are at least
~90 px high.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk_ui.icons import Icon
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, GREY, INK, MUTED, ORANGE, ORANGE_LIGHT, RED, RED_LIGHT, WHITE, Btn, Panel, Text

if TYPE_CHECKING:
    from kiosk_ui.shell import Shell


def register(screens: Registry[Any], *, footer: bool = True) -> None:
    """Add the shared screens to an app's registry (``footer``: with the footer's banner and home button)."""
    screens.add("offline", offline, timeout=None, footer=footer)
    screens.add("pin", pin, footer=footer)
    screens.add("done", done, footer=footer)


def header(app: Shell) -> Widget:
    bar = Panel(fill=GREEN, radius=0, orientation="horizontal", size_hint_y=None, height=app.fs(84), padding=(24, 6))
    extras = app.header_extras()  # each with its own size_hint_x, taken from the hall name's room
    hall = app.status["hall"] if app.status else {"name": app.hall.hall.name, "name_en": app.hall.hall.name_en}
    name = hall["name_en"] if app.lang == "en" and hall.get("name_en") else hall["name"]
    room = 0.62 - sum(float(e.size_hint_x) for e in extras)
    title = Btn(name, kid="hall.name", size=app.fs(28, grow=False) if extras else app.fs(34), fill=GREEN)
    title.size_hint_x = room
    title.label.halign = "left"
    if extras:  # less room: one line, shortened if need be
        title.label.shorten, title.label.shorten_from, title.label.max_lines = True, "right", 1
    title.bind(on_release=lambda *_: app.tap_hall_name())
    bar.add_widget(title)
    for extra in extras:
        bar.add_widget(extra)
    app.clock_label = Text(hall_clock(app), size=app.fs(34), color=WHITE, size_hint_x=0.18)
    bar.add_widget(app.clock_label)
    toggle = Btn(app.t("lang.toggle"), kid="lang", size=app.fs(28), fill=WHITE, color=GREEN, size_hint_x=0.2)
    toggle.bind(on_release=lambda *_: app.toggle_language())
    bar.add_widget(toggle)
    return bar


def hall_clock(app: Shell) -> str:
    """The time on the hall's clock (its configured zone, whatever the box's own zone is)."""
    return datetime.now(ZoneInfo(app.hall.hall.timezone)).strftime("%H:%M")


def update_clock(app: Shell) -> None:
    if app.clock_label is not None:
        app.clock_label.text = hall_clock(app)


def footer(app: Shell, *, back: str | None) -> Widget:
    bar = BoxLayout(orientation="horizontal", size_hint_y=None, height=app.fs(96), padding=(24, 10), spacing=20)
    if not app.online:
        bar.add_widget(Text(app.t("offline.banner"), size=app.fs(26), color=RED))
    else:
        bar.add_widget(Widget())
    if back is not None:
        to = back
        button = Btn(app.t("nav.back"), kid="nav.back", size=app.fs(30), fill=WHITE, color=GREEN, border=GREEN)
        button.size_hint_x = 0.3
        button.bind(on_release=lambda *_: app.go(to))
        bar.add_widget(button)
    if app.screen != "offline":
        home = Btn(app.t("nav.home"), kid="nav.home", size=app.fs(30), fill=WHITE, color=GREEN, border=GREEN)
        home.size_hint_x = 0.3
        home.bind(on_release=lambda *_: app.home())
        bar.add_widget(home)
    return bar


def message(app: Shell, box: BoxLayout) -> None:
    """Add the current message (if any) as a red panel to ``box``."""
    if app.message is None:
        return
    key, values = app.message
    fill, color = (ORANGE_LIGHT, ORANGE) if app.gentle else (RED_LIGHT, RED)
    panel = Panel(fill=fill, size_hint_y=None, height=app.fs(80), padding=10)
    panel.add_widget(Text(app.t(key, **values), kid="message", size=app.fs(28), color=color))
    box.add_widget(panel)


def local_name(app: Shell, name: Any, name_en: Any) -> str:
    """A name in the app's language (the Chinese one when there is no English one)."""
    return str(name_en if app.lang == "en" and name_en else name)


def keypad(app: Shell, on_key: Any, *, kid: str, extra: tuple[tuple[str, str], ...]) -> GridLayout:
    """A 0–9 pad with two extra keys (label, value) for clear/OK."""
    pad = GridLayout(cols=3, spacing=12)
    keys = [(str(n), str(n)) for n in range(1, 10)] + [extra[0], ("0", "0"), extra[1]]
    for label, value in keys:
        fill, color = (GREEN, WHITE) if value in ("ok",) else (WHITE, INK)
        b = Btn(label, kid=f"{kid}.{value}", size=app.fs(40), fill=fill, color=color, border=GREY)
        b.bind(on_release=lambda _w, v=value: on_key(v))
        pad.add_widget(b)
    return pad


def offline(app: Shell) -> Widget:
    body = Panel(fill=WHITE, orientation="vertical", padding=60, spacing=20)
    body.add_widget(Icon("outage", color=ORANGE, size_hint_y=1.0))
    body.add_widget(Text(app.t("offline.title"), size=app.fs(54), bold=True, kid="offline.title"))
    body.add_widget(Text(app.t(f"offline.sub.{app.screens.app}"), size=app.fs(32), color=MUTED))
    if app.offline_tries:
        body.add_widget(
            Text(app.t("offline.retry", n=app.offline_tries), size=app.fs(26), color=MUTED, size_hint_y=0.2)
        )
    outer = BoxLayout(padding=40)
    outer.add_widget(body)
    return outer


def pin(app: Shell) -> Widget:
    body = BoxLayout(orientation="horizontal", padding=24, spacing=24)
    left = BoxLayout(orientation="vertical", spacing=16, size_hint_x=0.5)
    left.add_widget(Text(app.t("pin.title"), size=app.fs(40), bold=True))
    left.add_widget(Text(app.t("pin.hint"), size=app.fs(28), color=MUTED))
    left.add_widget(Text("●" * len(app.pin.digits) or "—", size=app.fs(48), kid="pin.dots"))
    message(app, left)
    body.add_widget(left)

    def key(value: str) -> None:
        if value == "clear":
            app.pin.digits = ""
        elif value == "ok":
            app.check_pin()
            return
        elif len(app.pin.digits) < 12:
            app.pin.digits += value
        app.message = None
        app.redraw()

    body.add_widget(keypad(app, key, kid="pin", extra=(("C", "clear"), (app.t("pin.ok"), "ok"))))
    return body


def done(app: Shell) -> Widget:
    key, icon, sub = app.done_texts[app.done]
    body = Panel(fill=WHITE, orientation="vertical", padding=50, spacing=20)
    body.add_widget(Icon(icon, color=GREEN, size_hint_y=1.0))
    body.add_widget(Text(app.t(key), size=app.fs(46), bold=True, color=GREEN, kid="done"))
    if sub is not None:
        body.add_widget(Text(app.t(sub), size=app.fs(30), color=MUTED))
    ok = Btn(app.t("msg.ok"), kid="done.ok", size=app.fs(34), size_hint=(0.4, 0.6), pos_hint={"center_x": 0.5})
    ok.bind(on_release=lambda *_: app.home())
    body.add_widget(ok)
    outer = BoxLayout(padding=40)
    outer.add_widget(body)
    return outer
