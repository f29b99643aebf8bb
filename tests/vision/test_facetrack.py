"""Faces on a camera: VIP arrival only for consenting VIPs who show a sign of life, once per visit; emotions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.vision.scenes import Still
from vision import assets
from vision.audit import AuditLog
from vision.embed import FaceEncoder
from vision.faces import read_image
from vision.facetrack import LIFE_WAIT_S, FaceStage
from vision.gallery import Consent, Gallery
from vision.people import Track

VIP = Consent(who="王*", when="2026-11-25T09:30:00+08:00", purposes=["ticket", "vip_arrival"], screen="kiosk-1")
TICKET_ONLY = Consent(who="李*", when="2026-11-25T09:30:00+08:00", purposes=["ticket"], screen="kiosk-1")
BOX = (100, 30, 440, 900)  # the person detector's box: the face in its upper half
HQ = {"a" * 64: (["VIP"], "王先生"), "b" * 64: ([], "")}  # what the core's bundle.lookup answers


def lookup(ref: str) -> tuple[list[str], str] | None:
    return HQ.get(ref)


@pytest.fixture(scope="module")
def encoder(fetched: list[Path]) -> FaceEncoder:
    return FaceEncoder()


@pytest.fixture(scope="module")
def portrait(fetched: list[Path]) -> object:
    from vision.synth import Portrait

    return Portrait("obama.jpg")


@pytest.fixture
def hall(tmp_path: Path, encoder: FaceEncoder) -> Iterator[tuple[Gallery, AuditLog]]:
    audit = AuditLog(tmp_path / "audit.db")
    gallery = Gallery(tmp_path / "g.db", tmp_path / "g.key", audit=audit)
    yield gallery, audit
    gallery.close()
    audit.close()


def _vectors(encoder: FaceEncoder, *names: str) -> np.ndarray:
    return np.stack([encoder.encode(read_image(assets.path(n)))[0] for n in names])


def _walk(stage: FaceStage, scene: object, track: int, start: float, seconds: float) -> list[object]:
    facts = []
    t = start
    while t < start + seconds:
        facts += stage.step(scene.frame(t), [Track(track, BOX, hits=5, confirmed=True)], t)  # type: ignore[attr-defined]
        t += 0.5
    return facts


def test_a_consenting_vip_who_moves_arrives_once_by_hqs_name(
    hall: tuple, encoder: FaceEncoder, portrait: object
) -> None:
    from vision.synth import Person

    gallery, audit = hall
    gallery.enroll(_vectors(encoder, "obama.jpg", "obama2.jpg"), VIP, {"hash": "a" * 64, "masked": "1101**002X"}, 30)
    stage = FaceStage("door", gallery, encoder=encoder, vip=True, audit=audit, lookup=lookup)
    person = Person(portrait, seed=5)  # type: ignore[arg-type]
    person.ask("turn_left", 1.0)  # looking around as they walk in
    person.ask("look", 3.0)
    facts = _walk(stage, person, 11, 0.0, 6.0)
    assert [(f.topic, f.data, f.durable) for f in facts] == [  # type: ignore[attr-defined]
        ("vip.arrived", {"who": "王先生", "camera": "door", "source": "camera:door"}, False)
    ]
    # the same customer on a new track, and on another camera, minutes later: the same visit
    person.ask("turn_right", 100.0)
    person.ask("look", 102.0)
    assert _walk(stage, person, 12, 99.0, 6.0) == []
    other = FaceStage("lobby", gallery, encoder=encoder, vip=True, audit=audit, lookup=lookup)
    person.ask("turn_left", 200.0)
    person.ask("look", 202.0)
    assert _walk(other, person, 13, 199.0, 6.0) == []
    rows = audit.since(0)
    assert [(r["place"], r["purpose"], r["decision"], r["ref"]) for r in rows] == [
        ("camera:door", "vip_arrival", "announced", "a" * 64)
    ]
    assert rows[0]["score"] > 0.55


def test_no_vip_consent_no_vip_tag_or_no_life_means_no_arrival(
    hall: tuple, encoder: FaceEncoder, portrait: object
) -> None:
    from vision.synth import Person

    gallery, audit = hall
    entry = gallery.enroll(_vectors(encoder, "obama.jpg"), TICKET_ONLY, {"hash": "a" * 64, "masked": "x"}, 30)
    stage = FaceStage("door", gallery, encoder=encoder, vip=True, audit=audit, lookup=lookup)
    person = Person(portrait, seed=6)  # type: ignore[arg-type]
    person.ask("turn_left", 1.0)
    person.ask("look", 3.0)
    assert _walk(stage, person, 1, 0.0, 6.0) == []  # consented to tickets only: never even compared
    assert audit.since(0) == []
    gallery.remove(entry)
    gallery.enroll(_vectors(encoder, "obama.jpg"), VIP, {"hash": "b" * 64, "masked": "x"}, 30)
    stage.apply_changes(gallery.changes_since(stage.index.seq))
    person.ask("turn_left", 11.0)
    person.ask("look", 13.0)
    assert _walk(stage, person, 2, 10.0, 6.0) == []  # consented, but HQ does not tag them VIP
    poster = Still(portrait.image)  # type: ignore[attr-defined]
    stage.lookup = lambda ref: (["VIP"], "王先生")
    assert _walk(stage, poster, 3, 100.0, LIFE_WAIT_S + 3) == []  # a photo on the wall never arrives
    rows = [(r["decision"], r["reason"]) for r in audit.since(0)]
    assert rows == [
        ("withheld", "HQ does not tag this customer VIP"),
        ("withheld", f"no sign of life in {LIFE_WAIT_S:.0f} s (a photo or a poster?)"),
    ]


def test_a_camera_without_vip_compares_no_one(hall: tuple, encoder: FaceEncoder, portrait: object) -> None:
    from vision.synth import Person

    gallery, audit = hall
    gallery.enroll(_vectors(encoder, "obama.jpg"), VIP, {"hash": "a" * 64, "masked": "x"}, 30)
    stage = FaceStage("counter", gallery, encoder=encoder, audit=audit, lookup=lookup)  # vip off (the default)
    person = Person(portrait, seed=7)  # type: ignore[arg-type]
    person.ask("turn_left", 1.0)
    person.ask("look", 3.0)
    assert _walk(stage, person, 1, 0.0, 6.0) == [] and audit.since(0) == []


def test_the_gallery_is_loaded_once_and_follows_changes_not_the_file(hall: tuple, encoder: FaceEncoder) -> None:
    gallery, audit = hall
    entry = gallery.enroll(_vectors(encoder, "obama.jpg"), VIP, {"hash": "a" * 64, "masked": "x"}, 30)
    stage = FaceStage("door", gallery, encoder=encoder, vip=True, audit=audit, lookup=lookup)
    assert len(stage.index) == 1
    assert gallery.remove(entry)  # deleted in the file; the camera is told by the change, not by re-reading
    assert len(stage.index) == 1
    assert stage.apply_changes(gallery.changes_since(0)) == 1  # the enrolment was in its first load already
    assert len(stage.index) == 0
    # An enrolment made elsewhere (the CLI, another camera) reaches the camera as a change too.
    again = gallery.enroll(_vectors(encoder, "obama.jpg"), VIP, {"hash": "a" * 64, "masked": "x"}, 30)
    stage.apply_changes(gallery.changes_since(stage.index.seq))
    assert list(stage.index.who) == [again] and stage.index.purposes[again] == {"ticket", "vip_arrival"}


def _frame(name: str, dx: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A 768×576 frame with the top of the photo pasted in (faces ~110 px), shifted by ``dx``;
    and the box of the person it shows, head at the top as a person detector gives it."""
    import cv2

    photo = read_image(assets.path(name))
    crop = cv2.resize(photo[: int(photo.shape[0] * 0.45)], None, fx=0.3, fy=0.3)
    crop = crop[:, : min(crop.shape[1], 520)]
    frame = np.full((576, 768, 3), 90, np.uint8)
    x0, y0 = 100 + dx, 100
    frame[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return frame, (x0, y0, crop.shape[1], 460)


def test_faces_feed_anonymous_emotion_shares_per_zone(hall: tuple, encoder: FaceEncoder) -> None:
    from vision.emotion import EmotionWindow
    from vision.geometry import Polygon

    gallery, _ = hall  # empty: no VIP matching, emotions still run
    zones = [("waiting", Polygon([[0, 0], [800, 0], [800, 640], [0, 640]]))]
    window = EmotionWindow("camera:door", window_s=4.0, min_people=1)
    stage = FaceStage("door", gallery, encoder=encoder, zones=zones, emotions=window, counters={"waiting": "3"})
    facts = []
    for i in range(6):
        frame, box = _frame("obama.jpg", 2 * i)
        facts += stage.step(frame, [Track(21, box, hits=5, confirmed=True)], float(i))
    reports = [f for f in facts if f.topic == "emotion.window"]
    assert len(reports) == 1 and reports[0].durable
    data = reports[0].data
    assert (data["zone"], data["positive"], data["people"], data["source"]) == ("waiting", 1.0, 1, "camera:door")
    assert data["counter"] == "3"  # the zone in front of counter 3: its share goes beside that counter's ratings
    assert not any(f.topic == "vip.arrived" for f in facts)
