"""``hall pad --tour OUTDIR``: each screen of the counter pad as a PNG, without a display.

The tour runs a hall of its own (:func:`kiosk_ui.tours.hall`), opens counter 2,
calls an identified customer there and plays the clerk's part on the bus the
way the staff panel does (push a form, correct it, finish, cancel), while it
plays the customer's by touch: flag a row, ask for a correction, confirm, a
signature too short, a real one, the rating. The last picture is taken after
the core is killed. File names say which screen: ``01-idle.png``,
``02-called.png``, ``03-form.png``, …
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge import config
from edge.bus import BusClient, Endpoints
from edge.identity import load_key, make_ref
from edge.paths import Home
from kiosk_ui.pad.config import PadConfig
from kiosk_ui.tours import HEIGHT, WIDTH, Shots, hall

COUNTER = "2"
CUSTOMER = ("王五", "11010519491231002X")
NEW_HOLDER = ("赵六", "110101199003071233")


def _line(*corners: tuple[float, float], step: float = 0.012) -> list[tuple[float, float]]:
    """Points every ``step`` along the segments through ``corners`` (box fractions, top left origin)."""
    out = [corners[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        n = max(1, round(max(abs(x1 - x0), abs(y1 - y0)) / step))
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return out


# 王五, written as a customer would in the box: one list of points per stroke
HANDWRITING: list[list[tuple[float, float]]] = [
    _line((0.14, 0.30), (0.31, 0.29)),
    _line((0.22, 0.30), (0.225, 0.71)),
    _line((0.16, 0.50), (0.29, 0.49)),
    _line((0.12, 0.72), (0.33, 0.70)),
    _line((0.40, 0.30), (0.59, 0.29)),
    _line((0.49, 0.30), (0.46, 0.52)),
    _line((0.44, 0.50), (0.57, 0.49), (0.555, 0.71)),
    _line((0.38, 0.72), (0.62, 0.71), (0.66, 0.66)),
]


def form_values(home: Home, *, phone: str = "13800138000") -> dict[str, Any]:
    """The 更名 form as the clerk fills it (the new holder's ID number keyed and masked, as the panel does)."""
    ref = make_ref("id", NEW_HOLDER[1], key=load_key(home.secret_path))
    return {
        "account": "3301004277",
        "old_name": CUSTOMER[0],
        "new_name": NEW_HOLDER[0],
        "new_holder_id": {"masked": ref.masked, "hash": ref.hash},
        "phone": phone,
        "address": "示范市城东区解放路36号",
        "reason": "继承",
    }


def run(outdir: Path) -> list[Path]:
    """Render the tour into ``outdir``; returns the files written, in order."""
    outdir.mkdir(parents=True, exist_ok=True)
    with hall() as (home, core), BusClient("panel", endpoints=Endpoints.local(home), timeout=5.0, retries=2) as bus:
        return _walk(outdir, home, bus, core)


def _customer(bus: BusClient, home: Home, business: str) -> dict[str, Any]:
    ref = make_ref("id", CUSTOMER[1], name=CUSTOMER[0], key=load_key(home.secret_path)).to_dict()
    bus.request("ticket.issue", {"business": business, "customer": ref})
    called: dict[str, Any] = bus.request("counter.call", {"counter": COUNTER})
    return called


def _walk(outdir: Path, home: Home, bus: BusClient, core: subprocess.Popen[bytes]) -> list[Path]:
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.core.window import Window

    from kiosk_ui.drive import stroke, tap, until
    from kiosk_ui.link import Link
    from kiosk_ui.pad.pad import TOPICS, Pad

    EventLoop.ensure_window()
    Window.size = (WIDTH, HEIGHT)
    cfg = PadConfig(fullscreen=False, form_timeout_s=3600, signed_show_s=300, idle_timeout_s=600)
    link = Link(
        lambda fn: Clock.schedule_once(lambda dt: fn(), 0),
        endpoints=Endpoints.local(home),
        timeout=1.0,
        source=f"pad-{COUNTER}",
        topics=TOPICS,
    )
    pad = Pad(cfg, config.load(), link, counter=COUNTER)
    Window.add_widget(pad)
    link.start()
    shot = Shots(pad, outdir)

    def sign(strokes: Iterator[list[tuple[float, float]]] | list[list[tuple[float, float]]]) -> None:
        for points in strokes:
            stroke(pad, "sign.box", points)

    try:
        bus.request("counter.open", {"counter": COUNTER, "staff": "王芳"})
        for code in "BBD":  # other customers, for other counters
            bus.request("ticket.issue", {"business": code, "channel": "counter"})
        shot("idle", lambda: pad.desk.counter is not None and pad.desk.counter["state"] == "open", "the open counter")
        ticket = _customer(bus, home, "C")
        shot("called", lambda: pad.screen == "called" and pad.desk.ticket is not None, "the called ticket")
        push = {"counter": COUNTER, "form": "name_change", "values": form_values(home), "staff": "王芳"}
        bus.request("form.push", push)
        shot("form", lambda: pad.screen == "form", "the pushed form")
        tap(pad, "form.field.phone")
        tap(pad, "form.ask")
        shot("form-correction-asked", lambda: pad.reading.asked, "the correction request")
        bus.request("form.push", {**push, "values": form_values(home, phone="13900139001")})
        shot("form-corrected", lambda: pad.reading.changed == ["phone"], "the corrected form")
        tap(pad, "form.confirm")
        until(lambda: pad.screen == "signature", what="the signature box")
        stroke(pad, "sign.box", [(0.5, 0.5), (0.502, 0.501)])
        tap(pad, "sign.done")
        shot("signature-too-short", lambda: pad.message is not None, "the kind refusal")
        sign(HANDWRITING)
        shot("signature", lambda: len(pad.signing.strokes) == len(HANDWRITING), "the handwriting")
        tap(pad, "sign.done")
        shot("signed", lambda: pad.screen == "signed", "the signed record")
        bus.request("counter.finish", {"counter": COUNTER})
        shot("rating", lambda: pad.screen == "evaluation" and pad.rating.number == ticket["number"], "the rating")
        tap(pad, "eval.star.5")
        tap(pad, "eval.reason.clear")
        tap(pad, "eval.submit")
        until(lambda: pad.screen == "done", what="the thanks")
        pad.home()
        _customer(bus, home, "C")
        tap(pad, "pad.large")
        shot("called-large-text", lambda: pad.screen == "called" and pad.large, "large text")
        tap(pad, "pad.large")
        tap(pad, "lang")
        tariff = {
            "account": "3301004277",
            "holder": CUSTOMER[0],
            "current_tariff": "居民生活用电（阶梯）",
            "new_tariff": "居民峰谷分时电价",
            "effective": "2026-12-01",
            "phone": "13800138000",
        }
        bus.request("form.push", {"counter": COUNTER, "form": "tariff_change", "values": tariff, "staff": "王芳"})
        shot("form-english", lambda: pad.screen == "form" and pad.lang == "en", "the form in English")
        tap(pad, "lang")
        bus.request("form.cancel", {"counter": COUNTER, "by": "王芳", "reason": "客户改日再办"})
        shot("form-cancelled", lambda: pad.screen == "done" and pad.done == "cancelled", "the clerk's cancel")
        core.kill()
        core.wait()
        shot("bus-lost", lambda: pad.screen == "offline", "the lost bus")
        return shot.paths
    finally:
        link.stop()
        pad.close()
        Window.remove_widget(pad)
