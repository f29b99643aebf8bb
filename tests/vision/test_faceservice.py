"""``hall vision`` beside a real core, filming a customer composed from a pinned portrait over MJPEG:
VIP arrival, ticket by face, withdrawal everywhere at once, the audit over the bus, and the start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.bus import BusClient, Endpoints, Subscriber
from edge.identity import load_key, make_ref
from tests.conftest import CoreProcess
from tests.vision.mjpeg_camera import MjpegCamera

pytestmark = pytest.mark.process
NUMBER = "11010519491231002X"  # a demo card of drivers/idcard/sim.py


def _vision(core: CoreProcess, cfg: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    log = open(core.home.root / "vision.log", "ab")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "edge", "vision", "--config", str(cfg)]
    proc = subprocess.Popen(argv, env=env or {**os.environ, "HALL_HOME": str(core.home.root)}, stdout=log, stderr=log)
    log.close()
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Customer:
    """Answers the vision service's prompts as the customer in front of the camera would."""

    def __init__(self, sub: Subscriber, camera: MjpegCamera, log: Path) -> None:
        self.sub, self.camera, self.log = sub, camera, log
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def wait(self, topic: str, seconds: float, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            env = self.sub.recv(timeout=0.5)
            if env is None:
                continue
            data = dict(env["data"])
            self.seen.append((env["topic"], data))
            if env["topic"] == "face.progress":
                self.camera.scene.ask(data["step"], self.camera.now())  # type: ignore[attr-defined]
            if env["topic"] == topic and all(data.get(k) == v for k, v in match.items()):
                return data
        raise AssertionError(f"no {topic} {match} within {seconds} s: {self.log.read_text()[-3000:]}")


@pytest.fixture
def filmed(core: CoreProcess, tmp_path: Path, fetched: list[Path]) -> Iterator[tuple[MjpegCamera, Path]]:
    from vision.synth import Person, Portrait

    camera = MjpegCamera(fps=10.0, scene=Person(Portrait("obama.jpg"), seed=11)).start()
    cfg = tmp_path / "hall.toml"
    cfg.write_text(
        f"""
[services.vision]
identify_timeout_s = 30

[[services.vision.cameras]]
name = "kiosk-cam"
source = "{camera.url}"
fps = 10
faces = true
kiosk = "kiosk-1"
vip = true
"""
    )
    yield camera, cfg
    camera.close()


def test_vip_arrival_ticket_by_face_withdrawal_and_the_audit(core: CoreProcess, filmed: tuple) -> None:
    from vision import assets

    camera, cfg = filmed
    home = core.home
    ref = make_ref("id", NUMBER, key=load_key(home.secret_path)).hash
    env = {**os.environ, "HALL_HOME": str(home.root)}
    enrol = [sys.executable, "-m", "edge", "vision", "enroll", str(assets.path("obama.jpg")),
             str(assets.path("obama2.jpg")), "--id-ref", f"id:{NUMBER}:王小明", "--purpose", "ticket,vip_arrival",
             "--screen", "kiosk-1"]  # fmt: skip
    done = subprocess.run(enrol, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    with BusClient("hq", endpoints=Endpoints.local(home)) as bus:
        bundle = {
            "version": 1,
            "published_at": "2026-11-25T08:00:00+08:00",
            "customer_tags": [{"hash": ref, "tags": ["VIP"], "display_name": "王先生"}],
        }
        assert bus.request("bundle.apply", {"bundle": bundle})["applied"]
    vision = _vision(core, cfg)
    try:
        with (
            Subscriber(["face.", "vip."], endpoints=Endpoints.local(home)) as sub,
            BusClient("kiosk", endpoints=Endpoints.local(home)) as kiosk,
        ):
            customer = Customer(sub, camera, home.root / "vision.log")

            def publish(topic: str, data: dict[str, Any], durable: bool = False) -> None:
                kiosk.request("event.publish", {"topic": topic, "data": data, "durable": durable})

            # the VIP walks up, looking about: staff are told, by HQ's name for them, never the card
            for after, where in ((8.0, "turn_left"), (10.0, "look"), (14.0, "turn_right"), (16.0, "look")):
                camera.scene.ask(where, camera.now() + after)  # type: ignore[attr-defined]
            arrived = customer.wait("vip.arrived", 90)
            assert arrived == {"who": "王先生", "camera": "kiosk-cam", "source": "camera:kiosk-cam"}
            # a ticket by face: prompts, then the candidate with the keyed reference, masked card, name and tags
            publish("face.match_requested", {"kiosk": "kiosk-1", "request": "r1", "purpose": "ticket"})
            candidate = customer.wait("face.candidate", 60, request="r1")
            assert candidate["customer"] == {
                "kind": "id",
                "hash": ref,
                "masked": "1101**********002X",
                "name_masked": "王*明",
            }
            assert (candidate["display_name"], candidate["tags"]) == ("王先生", ["VIP"])
            steps = [d["step"] for t, d in customer.seen if t == "face.progress" and d["request"] == "r1"]
            assert steps[0] == "look" and {"blink"} <= set(steps) and {"turn_left", "turn_right"} & set(steps)
            publish(
                "face.match_answered",
                {"kiosk": "kiosk-1", "request": "r1", "customer_hash": ref, "answer": "confirmed"},
            )
            # the customer withdraws at the kiosk: deleted, and the camera's copy with it, at once
            withdrawal = {
                "customer": candidate["customer"],
                "purposes": ["ticket", "vip_arrival"],
                "decision": "withdrawn",
                "kiosk": "kiosk-1",
                "screen": "consent",
            }
            publish("consent.recorded", withdrawal, durable=True)
            assert customer.wait("face.forgotten", 30)["removed"] == 1
            publish("face.match_requested", {"kiosk": "kiosk-1", "request": "r2", "purpose": "ticket"})
            unknown = customer.wait("face.abstained", 60, request="r2")
            assert unknown["code"] == "unknown"
            publish("face.match_requested", {"kiosk": "kiosk-9", "request": "r3", "purpose": "ticket"})
            assert customer.wait("face.abstained", 20, request="r3")["code"] == "no_camera"
            # the audit, as the panel asks for it
            publish("face.audit.requested", {"request": "a1", "since": 0, "limit": 50})
            listed = customer.wait("face.audit.listed", 20, request="a1")
        rows = [(r["purpose"], r["decision"], r["ref"]) for r in listed["records"]]
        assert rows[:5] == [
            ("enrolment", "enrolled", ref),
            ("vip_arrival", "announced", ref),
            ("ticket", "candidate", ref),
            ("ticket", "confirmed", ref),
            ("withdrawal", "withdrawn", ref),
        ]
        assert rows[5:] == [("ticket", "abstained", ""), ("ticket", "abstained", "")]
        assert [r["place"] for r in listed["records"]][1:4] == ["camera:kiosk-cam", "kiosk:kiosk-1", "kiosk:kiosk-1"]
        with BusClient("test", endpoints=Endpoints.local(home)) as bus:
            logged = {e["topic"] for e in bus.request("events.since", {"seq": 0, "limit": 5000})}
        # what reaches the log (and so HQ): the consent; never a candidate, an arrival or an audit record
        assert "consent.recorded" in logged
        assert not logged & {"face.candidate", "vip.arrived", "face.audit.listed", "face.progress"}
    finally:
        _stop(vision)


def test_the_service_refuses_a_key_readable_by_others_or_a_shared_user(core: CoreProcess, tmp_path: Path) -> None:
    cfg = tmp_path / "hall.toml"
    cfg.write_text("[services.vision]\n")
    key = core.home.root / "vision" / "gallery.key"
    key.parent.mkdir(exist_ok=True)
    key.write_bytes(os.urandom(32))
    key.chmod(0o640)
    vision = _vision(core, cfg)
    assert vision.wait(60) == 2
    log = (core.home.root / "vision.log").read_text()
    assert f"hall vision: {key}: key file is readable by others (mode 640); chmod 600 it" in log
    key.chmod(0o600)
    shared = {**os.environ, "HALL_HOME": str(core.home.root), "INVOCATION_ID": "0" * 32}  # as systemd starts it
    vision = _vision(core, cfg, shared)
    assert vision.wait(60) == 2
    assert "runs as the core's user" in (core.home.root / "vision.log").read_text()
    vision = _vision(core, cfg)  # a development box: one user for all, allowed
    try:
        with (
            Subscriber(["face.audit.listed"], endpoints=Endpoints.local(core.home)) as sub,
            BusClient("test", endpoints=Endpoints.local(core.home)) as bus,
        ):
            answer = None
            deadline = time.monotonic() + 60
            while answer is None and time.monotonic() < deadline and vision.poll() is None:
                asked = {"topic": "face.audit.requested", "data": {"request": "p"}, "durable": False}
                bus.request("event.publish", asked)
                answer = sub.recv(timeout=1.0)
        assert answer is not None and answer["data"] == {"request": "p", "records": [], "more": False}
    finally:
        _stop(vision)
