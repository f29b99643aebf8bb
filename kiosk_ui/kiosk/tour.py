"""``hall kiosk --tour OUTDIR``: every screen and state of the kiosk as a PNG, without a display.

The tour runs a hall of its own (:func:`kiosk_ui.tours.hall`) with the sample
bundle and a few customers in the queue, then drives the kiosk by touch the way
a customer would; the last picture is taken after the core is killed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edge import config
from edge.bus import BusClient, Endpoints
from edge.paths import Home
from kiosk_ui.kiosk.config import KioskConfig
from kiosk_ui.tours import HEIGHT, WIDTH, Shots, card_event, hall

ELDER = {"name": "张三", "number": "11010519491231002X"}
VIP = {"name": "王五", "number": "440306195010104567"}  # tagged VIP by the sample bundle


def populate(bus: BusClient, home: Home) -> None:
    """Open the counters, queue a few customers and call two of them."""
    from kiosk_ui.sample import load_sample

    load_sample(bus, home)
    for counter in ("1", "2", "3", "4"):
        bus.request("counter.open", {"counter": counter, "staff": f"staff{counter}"})
    for code in "AAABACDAB":
        bus.request("ticket.issue", {"business": code, "channel": "counter"})
    bus.request("counter.call", {"counter": "1"})
    bus.request("counter.call", {"counter": "3"})


def run(outdir: Path) -> list[Path]:
    """Render the tour into ``outdir``; returns the files written, in order."""
    outdir.mkdir(parents=True, exist_ok=True)
    with hall() as (home, core), BusClient("tour", endpoints=Endpoints.local(home), timeout=5.0, retries=2) as bus:
        populate(bus, home)
        return _walk(outdir, home, bus, core)


def _walk(outdir: Path, home: Home, bus: BusClient, core: subprocess.Popen[bytes]) -> list[Path]:
    from kivy.base import EventLoop
    from kivy.clock import Clock
    from kivy.core.window import Window

    from kiosk_ui.drive import tap, until
    from kiosk_ui.kiosk.kiosk import Kiosk
    from kiosk_ui.link import Link

    EventLoop.ensure_window()
    Window.size = (WIDTH, HEIGHT)
    hall_cfg = config.load()
    cfg = KioskConfig(fullscreen=False, evaluation_counter="2", idle_timeout_s=600)
    link = Link(lambda fn: Clock.schedule_once(lambda dt: fn(), 0), endpoints=Endpoints.local(home), timeout=1.0)
    kiosk = Kiosk(cfg, hall_cfg, link)
    Window.add_widget(kiosk)
    link.start()
    shot = Shots(kiosk, outdir)

    def card(elderly: bool = False) -> None:
        data = card_event(home, elderly=elderly, **ELDER)
        bus.request("event.publish", {"topic": "card.id.read", "data": data, "durable": False})

    try:
        shot("attract", lambda: kiosk.status is not None and kiosk.screen == "attract", "the hall's status")
        tap(kiosk, "attract.take")
        shot("businesses", lambda: kiosk.screen == "businesses", "the business tiles")
        card(elderly=True)
        shot("identified", lambda: kiosk.visit.customer is not None, "the card tap")
        tap(kiosk, "biz.A")
        until(lambda: kiosk.visit.ticket is not None, what="the ticket")
        ticket = kiosk.visit.ticket or {}
        bus.request(
            "event.publish",
            {
                "topic": "printer.printed",
                "data": {"ticket_id": ticket["id"], "number": ticket["number"]},
                "durable": False,
            },
        )
        shot("ticket-printed", lambda: kiosk.visit.print_state == "printed", "the printer's word")
        kiosk.home()
        tap(kiosk, "attract.take")
        tap(kiosk, "biz.B")
        until(lambda: kiosk.visit.ticket is not None, what="the second ticket")
        ticket = kiosk.visit.ticket or {}
        failed = {"ticket_id": ticket["id"], "number": ticket["number"], "reason": "paper_out"}
        bus.request("event.publish", {"topic": "printer.failed", "data": failed, "durable": False})
        shot("printer-down", lambda: kiosk.visit.print_state == "failed", "the printer's failure")
        bus.request("counter.finish", {"counter": "3"})
        for counter in ("3", "4"):  # the counters serving B close: a new B ticket has nobody to serve it yet
            bus.request("counter.close", {"counter": counter})
        kiosk.home()
        tap(kiosk, "attract.take")
        tap(kiosk, "biz.B")
        until(lambda: kiosk.visit.ticket is not None, what="the ticket with no counter open")
        ticket = kiosk.visit.ticket or {}
        printed = {"ticket_id": ticket["id"], "number": ticket["number"]}
        bus.request("event.publish", {"topic": "printer.printed", "data": printed, "durable": False})
        shot("ticket-no-counter", lambda: kiosk.visit.print_state == "printed", "the wait from when a counter opens")
        kiosk.home()
        tap(kiosk, "attract.appointment")
        for digit in "2026":
            tap(kiosk, f"appt.{digit}")
        shot("appointment", lambda: kiosk.visit.code == "2026", "the appointment code")
        kiosk.home()
        tap(kiosk, "attract.lookup")
        card()
        shot("lookups", lambda: kiosk.lookup.found is not None and kiosk.screen == "lookup", "the customer's data")
        tap(kiosk, "lookup.bill")
        shot("lookup-bill", lambda: kiosk.screen == "bill", "the bills")
        tap(kiosk, "nav.back")
        tap(kiosk, "lookup.usage")
        shot("lookup-usage", lambda: kiosk.screen == "usage", "the usage calendar")
        tap(kiosk, "nav.back")
        tap(kiosk, "lookup.outage")
        shot("lookup-outages", lambda: kiosk.screen == "outages", "the outages at the customer's address")
        tap(kiosk, "nav.back")
        tap(kiosk, "lookup.repair")
        tap(kiosk, "repair.kind.no_power")
        tap(kiosk, "repair.area.1")
        for digit in "13800138000":
            tap(kiosk, f"repair.key.{digit}")
        shot("repair-form", lambda: kiosk.repair.area is not None, "the repair form")
        tap(kiosk, "repair.key.ok")
        shot("repair-sent", lambda: kiosk.screen == "repair_sent", "the repair receipt")
        tap(kiosk, "nav.back")
        tap(kiosk, "lookup.myrepair")
        shot("my-repair", lambda: bool(kiosk.repair.mine), "the customer's reports")
        kiosk.home()
        bus.request("counter.call", {"counter": "2"})
        bus.request("counter.finish", {"counter": "2"})
        until(lambda: kiosk.screen == "evaluation", what="the evaluation request")
        shot("evaluation", lambda: kiosk.rating.number is not None, "the rating question")
        tap(kiosk, "eval.star.5")
        tap(kiosk, "eval.reason.friendly")
        shot("evaluation-reasons", lambda: kiosk.rating.reasons == ["friendly"], "the reasons")
        tap(kiosk, "eval.submit")
        shot("evaluation-thanks", lambda: kiosk.screen == "done", "the thanks")
        kiosk.home()
        # ticket by face: the vision service's events as it sends them (the tour runs no camera)
        vip = card_event(home, elderly=False, **VIP)

        def vision(topic: str, **data: object) -> None:
            data = {"kiosk": kiosk.cfg.kiosk_id, "request": kiosk.face.request, "source": "camera:kiosk", **data}
            bus.request("event.publish", {"topic": topic, "data": data, "durable": False})

        tap(kiosk, "attract.face.ticket")
        shot("face-look", lambda: kiosk.screen == "face_look", "the camera's first prompt")
        vision("face.progress", step="turn_left")
        shot("face-turn", lambda: kiosk.face.step == "turn_left", "the head-turn prompt")
        vision("face.progress", step="blink")
        shot("face-blink", lambda: kiosk.face.step == "blink", "the blink prompt")
        vision("face.candidate", customer=vip["customer"], display_name="王先生", tags=["VIP"])
        shot("face-confirm", lambda: kiosk.screen == "face_confirm", "the candidate to confirm")
        tap(kiosk, "face.yes")
        shot("face-confirmed", lambda: kiosk.visit.customer is not None, "the customer identified by face")
        kiosk.home()
        tap(kiosk, "attract.face.ticket")
        until(lambda: kiosk.screen == "face_look", what="a second ticket by face")
        vision("face.abstained", code="liveness", reason="no blink within 6 s of being asked")
        shot("face-abstained", lambda: kiosk.screen == "businesses", "the ID card offered at once")
        kiosk.home()
        tap(kiosk, "attract.face")
        shot("consent-gate", lambda: kiosk.screen == "consent", "the consent gate")
        bus.request("event.publish", {"topic": "card.id.read", "data": vip, "durable": False})
        shot("consent", lambda: kiosk.consent.vip, "the consent screen of a VIP customer")
        tap(kiosk, "consent.yes")
        shot("consent-choose", lambda: kiosk.message is not None, "a consent with no purpose chosen")
        tap(kiosk, "consent.purpose.ticket")
        tap(kiosk, "consent.purpose.vip_arrival")
        shot("consent-chosen", lambda: len(kiosk.consent.purposes) == 2, "both purposes chosen")
        tap(kiosk, "consent.yes")
        shot("consent-enrolling", lambda: kiosk.screen == "face_look", "the enrolment's first prompt")
        vision("face.enrolled", customer=vip["customer"]["masked"], entry="tour")
        shot("consent-enrolled", lambda: kiosk.done == "enrolled", "the enrolment answer")
        kiosk.home()
        tap(kiosk, "attract.elderly")
        shot("elderly", lambda: kiosk.screen == "elderly", "elderly mode")
        tap(kiosk, "elderly.staff")
        shot("staff-called", lambda: kiosk.screen == "done", "the staff call")
        kiosk.home()
        tap(kiosk, "lang")
        shot("attract-english", lambda: kiosk.lang == "en" and kiosk.status is not None, "English")
        tap(kiosk, "attract.take")
        shot("businesses-english", lambda: kiosk.screen == "businesses", "English tiles")
        tap(kiosk, "lang")
        kiosk.home()
        for _ in range(5):
            tap(kiosk, "hall.name")
        for digit in "1234":
            tap(kiosk, f"pin.{digit}")
        tap(kiosk, "pin.ok")
        shot("technician-pin", lambda: kiosk.message is not None, "the PIN answer")
        kiosk.home()
        core.kill()
        core.wait()
        shot("core-unreachable", lambda: kiosk.screen == "offline", "the offline screen")
        return shot.paths
    finally:
        link.stop()
        kiosk.close()
        Window.remove_widget(kiosk)
