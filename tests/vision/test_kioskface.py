"""The kiosk camera's face work offline: enrolment and 1:N against composed customers; abstaining when unsure."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.vision.scenes import Models, Still, run_steps
from vision.audit import AuditError, AuditLog
from vision.gallery import Consent, Gallery
from vision.kioskface import KioskFaces
from vision.matching import GalleryIndex

WHO = {"kind": "id", "hash": "a" * 64, "masked": "1101**********002X", "name_masked": "王*明"}


@pytest.fixture(scope="module")
def models(fetched: list[Path]) -> Models:
    return Models()


@pytest.fixture(scope="module")
def portraits(fetched: list[Path]) -> dict[str, Any]:
    from vision.synth import Portrait

    return {"obama": Portrait("obama.jpg"), "biden": Portrait("biden.jpg")}


@pytest.fixture
def desk(tmp_path: Path, models: Models) -> Iterator[KioskFaces]:
    audit = AuditLog(tmp_path / "audit.db")
    gallery = Gallery(tmp_path / "g.db", tmp_path / "g.key", audit=audit)
    faces = KioskFaces(
        "kiosk-cam",
        gallery,
        GalleryIndex.load(gallery),
        audit,
        models=models,
        retention_days=180,
        lookup=lambda ref: (["VIP"], "王先生") if ref == "a" * 64 else None,
        rng=random.Random(7),
    )
    yield faces
    gallery.close()
    audit.close()


def _topics(facts: list[Any]) -> list[str]:
    return [f.topic for f in facts if f.topic != "face.progress"]


def test_enrol_at_the_camera_then_a_ticket_by_face_names_the_customer(desk: KioskFaces, portraits: dict) -> None:
    from vision.synth import Person

    person = Person(portraits["obama"], seed=1)
    start = desk.enrol("kiosk-1", "c1", 0.0, WHO, {"when": "2026-11-25T10:00:00+08:00", "purposes": ["ticket"]})
    assert [(f.topic, f.data["step"]) for f in start] == [("face.progress", "look")]
    facts = run_steps(desk.step, person, 0.0)
    enrolled = facts[-1]
    assert (enrolled.topic, enrolled.data["customer"], enrolled.durable) == ("face.enrolled", WHO["masked"], False)
    (entry,) = desk.gallery.entries()
    assert entry.purposes == ("ticket",) and entry.ref == WHO["hash"]
    assert desk.gallery.entry(entry.id)[1].shape == (3, 192)  # type: ignore[index]  # three agreeing captures
    desk.identify("kiosk-1", "r1", 30.0)
    facts = run_steps(desk.step, person, 30.0)
    candidate = facts[-1]
    assert candidate.topic == "face.candidate"
    assert candidate.data == {
        "kiosk": "kiosk-1",
        "request": "r1",
        "source": "camera:kiosk-cam",
        "customer": WHO,
        "display_name": "王先生",
        "tags": ["VIP"],
    }
    rows = desk.audit.since(0)
    assert [(r["place"], r["purpose"], r["decision"]) for r in rows] == [
        ("kiosk:kiosk-1", "enrolment", "enrolled"),
        ("kiosk:kiosk-1", "ticket", "candidate"),
    ]
    assert rows[1]["score"] > 0.55 and rows[1]["request"] == "r1"


def test_an_unknown_face_or_two_customers_who_look_alike_get_no_name(
    desk: KioskFaces, portraits: dict, models: Models
) -> None:
    from vision.synth import Person

    consent = Consent(who="王*", when="2026-11-25T10:00:00+08:00", purposes=["ticket"], screen="kiosk-1")
    frame = portraits["obama"].render()
    vec, _ = models.encoder.encode(frame)
    desk.identify("kiosk-1", "r1", 0.0)
    facts = run_steps(desk.step, Person(portraits["obama"], seed=2), 0.0)
    assert _topics(facts) == ["face.abstained"] and facts[-1].data["code"] == "unknown"  # nobody enrolled yet
    for ref in "bc":  # one face under two cards (as only a forged enrolment could make it)
        entry = desk.gallery.enroll(vec[None], consent, {**WHO, "hash": ref * 64}, 30)
        desk.index.add(entry, vec[None], "x", ("ticket",))
    desk.identify("kiosk-1", "r2", 40.0)
    facts = run_steps(desk.step, Person(portraits["obama"], seed=3), 40.0)
    assert facts[-1].topic == "face.abstained"
    assert (facts[-1].data["code"], facts[-1].data["reason"]) == (
        "unsure",
        "two registered customers look alike: no name is given",
    )


def test_enrolment_at_the_camera_refuses_a_photo_a_second_person_and_a_face_under_another_card(
    desk: KioskFaces, portraits: dict
) -> None:
    from tests.vision.scenes import Two
    from vision.synth import Person

    consent = {"when": "2026-11-25T10:00:00+08:00", "purposes": ["ticket", "vip_arrival"]}
    desk.enrol("kiosk-1", "c1", 0.0, WHO, consent)
    photo = run_steps(desk.step, Still(portraits["obama"].image), 0.0)
    assert photo[-1].topic == "face.enroll_failed" and photo[-1].data["code"] == "liveness"
    desk.enrol("kiosk-1", "c2", 20.0, WHO, consent)
    two = run_steps(desk.step, Two(Person(portraits["obama"], seed=4), Person(portraits["biden"], seed=5)), 20.0)
    assert two[-1].data["code"] == "several_faces"
    desk.enrol("kiosk-1", "c3", 40.0, WHO, consent)
    assert run_steps(desk.step, Person(portraits["obama"], seed=6), 40.0)[-1].topic == "face.enrolled"
    desk.enrol("kiosk-1", "c4", 60.0, {**WHO, "hash": "f" * 64}, consent)  # the same face, another card
    other = run_steps(desk.step, Person(portraits["obama"], seed=7), 60.0)
    assert (other[-1].topic, other[-1].data["reason"]) == (
        "face.enroll_failed",
        "this face is already registered with another ID card",
    )
    decisions = [(r["decision"], r["reason"].split(":")[0]) for r in desk.audit.since(0)]
    assert decisions == [
        ("refused", "liveness"),
        ("refused", "several_faces"),
        ("enrolled", "3 captures, purposes ticket, vip_arrival"),
        ("refused", "changed"),
    ]


def test_without_its_audit_the_kiosk_gets_no_name(desk: KioskFaces, portraits: dict, models: Models) -> None:
    from vision.synth import Person

    consent = Consent(who="王*", when="2026-11-25T10:00:00+08:00", purposes=["ticket"], screen="kiosk-1")
    vec, _ = models.encoder.encode(portraits["obama"].render())
    entry = desk.gallery.enroll(vec[None], consent, WHO, 30)
    desk.index.add(entry, vec[None], "x", ("ticket",))

    pages = desk.audit.conn.execute("PRAGMA page_count").fetchone()[0]
    desk.audit.conn.execute(f"PRAGMA max_page_count = {pages}")  # the audit may grow no more: its disk fills
    with pytest.raises(AuditError, match="the disk is full: the face audit cannot be written"):
        for _ in range(10_000):
            desk.audit.record(place="test", purpose="ticket", decision="abstained", reason="filling")
    desk.identify("kiosk-1", "r1", 0.0)
    facts = run_steps(desk.step, Person(portraits["obama"], seed=8), 0.0)
    assert _topics(facts) == ["face.abstained"]  # not the candidate it would have named
    assert (facts[-1].data["code"], facts[-1].data["reason"]) == (
        "unavailable",
        "the face service cannot record its decisions now",
    )
