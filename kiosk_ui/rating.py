"""Rating the service (评价), shared by the counter pad and a kiosk serving as a counter's rating pad.

After ``ticket.finished`` at its counter the app asks for 1–5 stars and optional
reasons (:func:`ask`); the answer goes to the core as ``ticket.evaluate``.
Nothing is recorded when the customer skips or walks away (the screen's
timeout is the app's ``rating_timeout_s``). Where a counter has both a pad and
a kiosk set as its rating pad, the first answer counts and the other screen
stops asking (``evaluation.recorded``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from edge.errors import Conflict, HallError
from kiosk_ui.common import message
from kiosk_ui.registry import Registry
from kiosk_ui.widgets import GREEN, GREEN_LIGHT, GREY, INK, MUTED, WHITE, Btn, Text

if TYPE_CHECKING:
    from kiosk_ui.shell import Shell

GOOD_REASONS = ("fast", "friendly", "clear")
BAD_REASONS = ("slow", "unfriendly", "unclear")


@dataclass
class Rating:
    """The rating flow: whose service is rated, the stars and reasons chosen so far."""

    number: str | None = None
    score: int = 0
    reasons: list[str] = field(default_factory=list)


def register(screens: Registry[Any], *, footer: bool = True) -> None:
    screens.add("evaluation", evaluation, timeout=lambda app: float(app.rating_timeout_s), footer=footer)


def ask(app: Shell, number: str) -> None:
    """Start rating the service of ticket ``number`` (whatever the app was showing)."""
    app.reset()
    app.rating = Rating(number)
    app.go("evaluation")


def evaluation(app: Shell) -> Widget:
    r = app.rating
    body = BoxLayout(orientation="vertical", padding=(24, 16), spacing=16)
    body.add_widget(
        Text(app.t("eval.title", number=r.number or ""), size=app.fs(44), bold=True, kid="eval.title", size_hint_y=0.2)
    )
    message(app, body)
    stars = BoxLayout(orientation="horizontal", spacing=16, size_hint_y=0.3)
    for n in range(1, 6):
        chosen = n <= r.score
        b = Btn(
            "★" * n if app.lang == "zh" else f"{n} ★",
            kid=f"eval.star.{n}",
            size=app.fs(34 if n < 4 else 28),
            fill=GREEN if chosen else WHITE,
            color=WHITE if chosen else GREEN,
            border=GREEN,
            sub=app.t("eval.star", n=n),
        )
        b.bind(on_release=lambda _w, n=n: _score(app, n))
        stars.add_widget(b)
    body.add_widget(stars)
    if r.score:
        body.add_widget(Text(app.t("eval.reasons"), size=app.fs(26), color=MUTED, size_hint_y=0.1))
        reasons = BoxLayout(orientation="horizontal", spacing=14, size_hint_y=0.2)
        for code in GOOD_REASONS if r.score >= 4 else BAD_REASONS:
            on = code in r.reasons
            b = Btn(
                app.t(f"eval.reason.{code}"),
                kid=f"eval.reason.{code}",
                size=app.fs(28),
                fill=GREEN_LIGHT if on else WHITE,
                color=GREEN if on else INK,
                border=GREEN if on else GREY,
            )
            b.bind(on_release=lambda _w, code=code: _reason(app, code))
            reasons.add_widget(b)
        body.add_widget(reasons)
        submit = Btn(app.t("eval.submit"), kid="eval.submit", size=app.fs(34), size_hint_y=0.2)
        submit.bind(on_release=lambda *_: _send(app))
        body.add_widget(submit)
    else:
        skip = Btn(app.t("eval.skip"), kid="eval.skip", size=app.fs(28), fill=WHITE, color=MUTED, border=GREY)
        skip.size_hint = (0.3, 0.15)
        skip.pos_hint = {"center_x": 0.5}
        skip.bind(on_release=lambda *_: app.home())
        body.add_widget(skip)
    return body


def _score(app: Shell, n: int) -> None:
    app.rating.score, app.rating.reasons = n, []
    app.redraw()


def _reason(app: Shell, code: str) -> None:
    reasons = app.rating.reasons
    if code in reasons:
        reasons.remove(code)
    else:
        reasons.append(code)
    app.redraw()


def heard(app: Shell, topic: str, data: dict[str, Any]) -> None:
    """``evaluation.recorded``: the customer rated on another screen of the counter; stop asking here."""
    if topic == "evaluation.recorded" and app.screen == "evaluation" and data.get("number") == app.rating.number:
        app.home()


def _send(app: Shell) -> None:
    if app.busy:
        return
    app.busy = True
    r = app.rating
    data = {"number": r.number, "score": r.score, "reasons": list(r.reasons)}

    def refused(exc: HallError) -> None:
        if isinstance(exc, Conflict) and "already been rated" in str(exc):
            app.show_done("eval")  # rated a moment ago on the counter's other screen: the thanks stand
        else:
            app.refused(exc)

    app.link.call("ticket.evaluate", data, on_ok=lambda _: app.show_done("eval"), on_err=refused)
