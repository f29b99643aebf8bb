"""Ticket by face at the kiosk, end to end: the kiosk, a real core, ``hall vision`` and a camera filming the customer.

The camera is an MJPEG stream (the kiosk camera's transport) of a customer composed from a pinned
portrait (vision/synth.py: the mesh's own depth turned, the lids drawn down), who does what the
kiosk's screen asks, as a person would; then of a stranger; then of a printed photo of the enrolled
customer held up and tilted toward whatever side the screen asks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from edge.paths import Home
from kiosk_ui.drive import find, tap, text, texts, until
from kiosk_ui.sample import load_sample
from kiosk_ui.tours import card_event
from tests.conftest import CoreProcess
from tests.vision.mjpeg_camera import MjpegCamera

pytestmark = pytest.mark.process

VIP = {"name": "王五", "number": "440306195010104567"}  # HQ tags this demo card VIP in the sample bundle
MakeKiosk = Callable[..., Any]


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    from vision import assets
    from vision.synth import Person, Portrait

    assets.fetch_all()  # the pinned models and portraits (make setup fetched them already)

    cam = MjpegCamera(fps=10.0, scene=Person(Portrait("obama.jpg"), seed=21)).start()
    yield cam
    cam.close()


@pytest.fixture
def vision(core: CoreProcess, camera: MjpegCamera, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cfg = tmp_path / "hall.toml"
    cfg.write_text(
        f"""
[[services.vision.cameras]]
name = "kiosk-cam"
source = "{camera.url}"
fps = 10
faces = true
kiosk = "k1"
"""
    )
    log = open(core.home.root / "vision.log", "ab")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "edge", "vision", "--config", str(cfg)]
    proc = subprocess.Popen(argv, env={**os.environ, "HALL_HOME": str(core.home.root)}, stdout=log, stderr=log)
    log.close()

    def up(bus: BusClient) -> bool:  # the camera's health is logged: read it there, whenever it came
        health = bus.request("events.since", {"seq": 0, "prefix": "device.health", "limit": 1000})
        return any(e["data"] == {"device": "camera:kiosk-cam", "state": "ok", "detail": e["data"]["detail"]}
                   for e in health)  # fmt: skip

    with (
        Subscriber(["device.health"], endpoints=Endpoints.local(core.home)) as sub,
        BusClient("test", endpoints=Endpoints.local(core.home)) as bus,
    ):
        deadline = time.monotonic() + 120
        while not up(bus):
            assert proc.poll() is None, (core.home.root / "vision.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the kiosk camera never came up"
            sub.recv(timeout=1.0)  # the next health report, or a second
    yield proc
    proc.terminate()
    proc.wait(20)


def audited(home: Home) -> list[str]:
    """The face audit's decisions and reasons: what a failed step says."""
    from vision.audit import AuditLog

    audit = AuditLog.at_home(home.root)
    try:
        return [f"{r['purpose']} {r['decision']}: {r['reason']}" for r in audit.since(0)]
    finally:
        audit.close()


def follow(kiosk: Any, camera: MjpegCamera, done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Run the kiosk until ``done()``; the customer in front of the camera does what the screen says."""
    shown = ["look"]

    def step() -> bool:
        if kiosk.screen == "face_look" and kiosk.face.step != shown[-1]:
            shown.append(kiosk.face.step)
            camera.scene.ask(kiosk.face.step, camera.now())  # type: ignore[attr-defined]
        return done()

    until(step, timeout=timeout, what=what)


def test_consent_confirm_ticket_unknown_photo_and_withdrawal(
    make_kiosk: MakeKiosk,
    core: CoreProcess,
    bus: BusClient,
    camera: MjpegCamera,
    vision: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    from vision.synth import Person, Portrait, PrintedSheet

    assert load_sample(bus, Home(core.home.root))
    kiosk = make_kiosk(kiosk_id="k1")
    card = card_event(core.home, elderly=False, **VIP)

    def tap_card() -> None:
        bus.request("event.publish", {"topic": "card.id.read", "data": card, "durable": False})

    # 1. the customer consents to ticket by face with their ID card; the kiosk's camera enrols them live
    tap(kiosk, "attract.face")
    tap_card()
    until(lambda: kiosk.consent.vip, what="the consent screen for a VIP")
    tap(kiosk, "consent.purpose.ticket")
    tap(kiosk, "consent.yes")
    follow(kiosk, camera, lambda: kiosk.screen == "done", "the enrolment")
    assert kiosk.done == "enrolled", audited(core.home)
    tap(kiosk, "done.ok")
    template = enrolled_template(core.home)

    # 2. next visit: 刷脸取号 → prompts → the masked name to confirm → identified as by the card → the ticket
    tap(kiosk, "attract.face.ticket")
    follow(kiosk, camera, lambda: kiosk.screen != "face_look", "the candidate")
    assert kiosk.screen == "face_confirm", (kiosk.screen, texts(kiosk), audited(core.home))
    assert text(kiosk, "face.who") == "王* 4403**********4567"
    yes, no = find(kiosk, "face.yes"), find(kiosk, "face.no")
    assert tuple(yes.size) == tuple(no.size)  # never silent: confirming and refusing are equal
    tap(kiosk, "face.yes")
    until(lambda: kiosk.screen == "businesses" and kiosk.visit.customer is not None, what="the identified customer")
    tap(kiosk, "biz.A")
    until(lambda: kiosk.visit.ticket is not None, what="the ticket")
    by_face = bus.request("ticket.show", {"number": kiosk.visit.ticket["number"]})
    tap(kiosk, "ticket.done")
    tap(kiosk, "attract.take")
    tap_card()
    until(lambda: kiosk.visit.customer is not None, what="the same customer's card")
    tap(kiosk, "biz.A")
    until(lambda: kiosk.visit.ticket is not None, what="the ticket by card")
    by_card = bus.request("ticket.show", {"number": kiosk.visit.ticket["number"]})
    # as a card read would: the same keyed reference and masked card, HQ's tags and the priority they give
    assert [(t["customer"], t["tags"], t["priority"]) for t in (by_face, by_card)] == [
        (by_card["customer"], ["VIP"], "vip")
    ] * 2
    assert by_face["customer"]["masked"] == "4403**********4567"
    tap(kiosk, "ticket.done")

    # 3. someone never enrolled: no name, the ID card asked for at once, and it works
    camera.scene = Person(Portrait("biden.jpg"), seed=22)
    tap(kiosk, "attract.face.ticket")
    follow(kiosk, camera, lambda: kiosk.screen == "businesses", "the abstention")
    assert text(kiosk, "message") == "未能识别您（未登记刷脸取号）。请在读卡区刷身份证。"
    tap_card()
    until(lambda: kiosk.visit.customer is not None, what="the card after the abstention")
    kiosk.home()

    # 4. a printed photo of the enrolled customer, tilted toward whatever side is asked: refused
    camera.scene = PrintedSheet(Portrait("obama.jpg"), seed=23, bend=0.5)
    tap(kiosk, "attract.face.ticket")
    follow(kiosk, camera, lambda: kiosk.screen == "businesses", "the photo's refusal")
    assert text(kiosk, "message") == "未能确认是本人现场操作。请在读卡区刷身份证。"
    kiosk.home()

    # 5. the customer withdraws at the kiosk: the next visit, their own face is unknown
    camera.scene = Person(Portrait("obama.jpg"), seed=24)
    with Subscriber(["face.forgotten"], endpoints=Endpoints.local(core.home)) as sub:
        tap(kiosk, "attract.face")
        tap_card()
        until(lambda: kiosk.visit.customer is not None, what="the card on the consent screen")
        tap(kiosk, "consent.revoke")
        until(lambda: kiosk.done == "revoked", what="the withdrawal")
        forgotten = sub.recv(timeout=30.0)
    assert forgotten is not None and forgotten["data"]["removed"] == 1
    tap(kiosk, "done.ok")
    tap(kiosk, "attract.face.ticket")
    follow(kiosk, camera, lambda: kiosk.screen == "businesses", "the unknown face after the withdrawal")
    assert text(kiosk, "message") == "未能识别您（未登记刷脸取号）。请在读卡区刷身份证。"
    with BusClient("test", endpoints=Endpoints.local(core.home)) as b:
        logged = [e["topic"] for e in b.request("events.since", {"seq": 0, "limit": 5000})]
    assert "face.candidate" not in logged and "face.match_requested" not in logged  # on the bus only

    # after card reads, an enrolment, tickets by face and card, an abstention, a photo and a withdrawal,
    # nothing the box keeps (the core's log and HQ outbox, the audit, the gallery, the service logs) holds
    # the number, the name or the face template in the clear
    assert leaks(core.home.root, [VIP["number"], VIP["name"]], template) == []

    # and nothing of it reaches HQ: a real agent sends the whole log to a real HQ, whose store and log are searched
    assert leaks(sent_to_hq(core, tmp_path / "hq"), [VIP["number"], VIP["name"]], template) == []


def sent_to_hq(core: CoreProcess, where: Path) -> Path:
    """Link the hall to a new HQ (SQLite), let ``hall sync`` send everything the log holds; the HQ's folder."""
    from sync.client import HqClient
    from tests.sync.conftest import AgentProcess, HqServer, hall_cmd, wait_for

    where.mkdir()
    hq = HqServer(str(where / "hq.db"), where / "hq.log").start()
    try:
        cred = hq.add_hall("demo-001")
        hall_cmd("sync", "credential", "-", stdin=cred.to_json(), env={"HALL_HOME": str(core.home.root)})
        agent = AgentProcess(core.home).start()
        try:
            with BusClient("test", endpoints=Endpoints.local(core.home)) as b, HqClient(cred) as client:
                head = b.request("hall.ping")["seq"]
                wait_for(lambda: client.status()["held"] >= head, 90, "HQ to hold the hall's whole log")
        finally:
            agent.stop()
        store = hq.store()
        try:
            topics = {e["topic"] for e in store.events("demo-001", 0, 100_000)}
        finally:
            store.close()
        assert {"consent.recorded", "ticket.issued"} <= topics  # the visit's facts are there to be searched
    finally:
        hq.stop()
    return where


def enrolled_template(home: Home) -> Any:
    """The face template the gallery holds for the one enrolled customer (read with the hall's key)."""
    from vision.gallery import Gallery

    gallery = Gallery.at_home(home.root)
    try:
        _, vectors = gallery.matrix()
    finally:
        gallery.close()
    assert len(vectors) >= 1
    return vectors


def leaks(root: Path, words: list[str], template: Any) -> list[str]:
    """Files under ``root`` holding one of ``words`` (UTF-8 or JSON-escaped) or a piece of ``template``
    (16 bytes of a float32 row, or a component written out as text)."""
    needles = {w: w.encode() for w in words}
    needles.update({f"{w} (escaped)": json.dumps(w).strip('"').encode() for w in words if not w.isascii()})
    for i, row in enumerate(template):
        raw = row.astype("<f4").tobytes()
        needles.update({f"template row {i} bytes {k}": raw[k : k + 16] for k in (0, 256, 512)})
        big = [float(v) for v in row if abs(v) > 0.05][:3]
        needles.update({f"template row {i} value {j} as text": str(v)[:10].encode() for j, v in enumerate(big)})
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(root)}: {what}" for what, needle in needles.items() if needle in data]
    return found
