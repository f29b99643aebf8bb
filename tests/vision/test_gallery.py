"""The consented VIP gallery: enrolment, encryption at rest, expiry, withdrawal, voting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.paths import Home
from vision import assets
from vision.embed import FaceEncoder
from vision.faces import read_image
from vision.gallery import Consent, Gallery, GalleryError, Visits, Voter, best_two

CONSENT = Consent(who="王某", when="2026-11-25T09:30:00+08:00", purpose="VIP greeting at the door", screen="kiosk-1")


@pytest.fixture(scope="module")
def encoder(fetched: list[Path]) -> FaceEncoder:
    return FaceEncoder()


@pytest.fixture(scope="module")
def vectors(encoder: FaceEncoder) -> dict[str, np.ndarray]:
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        vec, why = encoder.encode(read_image(assets.path(name)))
        assert vec is not None, why
        out[name] = vec
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gallery(tmp_path: Path) -> Iterator[Gallery]:
    g = Gallery(tmp_path / "gallery.db", tmp_path / "keys" / "gallery.key", clock=Clock())
    yield g
    g.close()


def _hall(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(home.root)}
    argv = [sys.executable, "-m", "edge", "vision", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)


def test_enrol_list_and_withdraw_through_the_cli(hall_home: Home, fetched: list[Path]) -> None:
    consent = ["--who", "王某", "--purpose", "VIP greeting", "--screen", "kiosk-1", "--id-ref", "IDREF-7781"]
    out = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), str(assets.path("obama2.jpg")), *consent, "--json")
    assert out.returncode == 0, out.stderr
    entry = json.loads(out.stdout)["id"]
    key = hall_home.root / "vision" / "gallery.key"
    assert key.stat().st_mode & 0o777 == 0o600
    raw = (hall_home.root / "vision" / "gallery.db").read_bytes()
    assert b"IDREF-7781" not in raw and "王某".encode() not in raw and b"kiosk-1" not in raw
    listed = json.loads(_hall(hall_home, "gallery", "list", "--json").stdout)
    assert [(e["id"], e["id_card_ref"], e["consent"]["who"]) for e in listed] == [(entry, "IDREF-7781", "王某")]
    assert _hall(hall_home, "gallery", "remove", entry).returncode == 0
    assert json.loads(_hall(hall_home, "gallery", "list", "--json").stdout) == []
    again = _hall(hall_home, "gallery", "remove", entry)
    assert again.returncode == 1 and f"no entry {entry}" in again.stderr


def test_enrolment_refuses_a_poor_face_and_missing_consent(hall_home: Home, tmp_path: Path) -> None:
    import cv2

    small = tmp_path / "small.jpg"
    image = read_image(assets.path("obama.jpg"))
    cv2.imwrite(str(small), cv2.resize(image, None, fx=0.15, fy=0.15))
    consent = ["--who", "王某", "--purpose", "VIP greeting", "--screen", "kiosk-1", "--id-ref", "IDREF-1"]
    out = _hall(hall_home, "enroll", str(small), *consent)
    assert out.returncode == 1 and "small.jpg: refused: no usable face (face too small" in out.stderr
    out = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), *consent[:2], "--purpose", "", "--screen", "k")
    assert out.returncode == 2
    assert json.loads(_hall(hall_home, "gallery", "list", "--json").stdout) == []


def test_matching_votes_and_an_unknown_face_abstains(gallery: Gallery, vectors: dict[str, np.ndarray]) -> None:
    obama = gallery.enroll(np.stack([vectors["obama.jpg"], vectors["obama2.jpg"]]), CONSENT, "IDREF-1", 30)
    ids, matrix = gallery.matrix()
    voter = Voter(window=5, need=3)
    decisions = [voter.add(*best_two(ids, matrix, vectors["obama3.jpg"])) for _ in range(3)]
    assert decisions == [None, None, obama]  # three agreeing frames before a name
    stranger = Voter()
    assert [stranger.add(*best_two(ids, matrix, vectors["biden.jpg"])) for _ in range(10)] == [None] * 10
    mixed = Voter(window=5, need=3)
    frames = [vectors["obama3.jpg"], vectors["biden.jpg"], vectors["biden.jpg"], vectors["obama3.jpg"]]
    assert all(mixed.add(*best_two(ids, matrix, f)) is None for f in frames)


def test_expiry_and_withdrawal_delete_at_once(gallery: Gallery, vectors: dict[str, np.ndarray]) -> None:
    clock = gallery.clock
    short = gallery.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-1", 1)
    longer = gallery.enroll(vectors["biden.jpg"][None], CONSENT, "IDREF-2", 30)
    clock.now += 86400 + 1
    assert [e.id for e in gallery.entries()] == [longer]
    assert gallery.db.execute("SELECT COUNT(*) FROM entries WHERE id = ?", (short,)).fetchone() == (0,)
    assert gallery.remove(longer)
    assert gallery.matrix()[0] == []


def test_enrolment_needs_an_id_reference_and_sane_expiry(gallery: Gallery, vectors: dict[str, np.ndarray]) -> None:
    with pytest.raises(GalleryError, match="ID-card reference"):
        gallery.enroll(vectors["obama.jpg"][None], CONSENT, " ", 30)
    with pytest.raises(GalleryError, match="expiry"):
        gallery.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-1", 0)


def test_the_key_must_be_private_and_the_right_one(tmp_path: Path, vectors: dict[str, np.ndarray]) -> None:
    g = Gallery(tmp_path / "g.db", tmp_path / "g.key")
    g.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-1", 30)
    g.close()
    (tmp_path / "g.key").chmod(0o644)
    with pytest.raises(GalleryError, match="readable by others"):
        Gallery(tmp_path / "g.db", tmp_path / "g.key")
    other = Gallery(tmp_path / "g.db", tmp_path / "other.key")
    with pytest.raises(GalleryError, match="cannot be decrypted"):
        other.entries()
    other.close()


def test_a_vip_arrives_once_per_visit() -> None:
    visits = Visits(gap_s=3600)
    assert [visits.arrived("a", t) for t in (0, 10, 1000, 3000)] == [True, False, False, False]
    assert visits.arrived("a", 3000 + 3600) and visits.arrived("b", 3001)


def test_consent_for_a_kiosk_without_a_face_camera_is_answered(hall_home: Home) -> None:
    from vision.config import VisionConfig
    from vision.service import Service

    service = Service(VisionConfig(), hall_home.root, [])
    customer = {"hash": "abc", "masked": "3201**1234"}
    out = service.on_consent(
        {"customer": customer, "purpose": "face_recognition", "decision": "granted", "kiosk": "kiosk-9"}, "2026-01-01"
    )
    assert out == (
        "face.enroll_failed",
        {"customer": "3201**1234", "kiosk": "kiosk-9", "reason": "no camera with faces on faces kiosk kiosk-9"},
        False,
    )
    assert service.on_consent({"customer": customer, "purpose": "marketing", "decision": "granted"}, "x") is None


def test_a_withdrawal_recorded_while_vision_was_down_still_deletes_the_face(core: object, tmp_path: Path) -> None:
    from edge.bus import BusClient, Endpoints
    from vision.config import VisionConfig
    from vision.gallery import Consent, Gallery
    from vision.service import Service

    home = Home.from_env()
    gallery = Gallery.at_home(home.root)
    consent = Consent(who="张*", when="2026-11-25T10:00:00+08:00", purpose="face_recognition", screen="k1")
    vec = np.ones((1, 192), np.float32) / np.sqrt(192)
    kept = gallery.enroll(vec, consent, "b" * 64, 30)
    gallery.enroll(vec, consent, "a" * 64, 30)
    gallery.close()
    with BusClient("kiosk", endpoints=Endpoints.local(home)) as bus:
        withdrawn = {
            "customer": {"hash": "a" * 64, "masked": "1101**********002X"},
            "purpose": "face_recognition",
            "screen": "consent",
            "decision": "withdrawn",
            "kiosk": "k1",
        }
        bus.request("event.publish", {"topic": "consent.recorded", "data": withdrawn})
        service = Service(VisionConfig(), home.root, [])
        assert service.catch_up_withdrawals(bus) == 1
        assert service.catch_up_withdrawals(bus) == 0  # the cursor is kept: nothing read twice
        forgotten = bus.request("events.since", {"seq": 0, "prefix": "face.forgotten"})
    gallery = Gallery.at_home(home.root)
    try:
        assert [e.id for e in gallery.entries()] == [kept]
    finally:
        gallery.close()
    assert [e["data"]["removed"] for e in forgotten] == [1]


def test_a_gallery_made_before_migrations_upgrades_in_place(tmp_path: Path, vectors: dict[str, np.ndarray]) -> None:
    import sqlite3

    old = Gallery(tmp_path / "gallery.db", tmp_path / "gallery.key")
    entry = old.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-9", 30)
    old.close()
    raw = sqlite3.connect(tmp_path / "gallery.db")  # back to the file as the old code left it
    raw.execute("DROP TABLE changes")
    raw.execute("DROP TABLE _sqlite_migrations")
    raw.commit()
    raw.close()
    upgraded = Gallery(tmp_path / "gallery.db", tmp_path / "gallery.key")
    assert [e.id for e in upgraded.entries()] == [entry]
    assert upgraded.changes_since(0) == [(1, "enrolled", entry)]  # the entry it already had counts as enrolled
    names = [r[0] for r in upgraded.db.execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    assert names == ["m001_entries", "m002_changes"]
    upgraded.close()
    again = Gallery(tmp_path / "gallery.db", tmp_path / "gallery.key")  # nothing left to apply
    assert again.changes_since(0) == [(1, "enrolled", entry)]
    again.close()


def test_every_enrolment_and_deletion_is_a_change_in_order(gallery: Gallery, vectors: dict[str, np.ndarray]) -> None:
    a = gallery.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-1", 1)
    b = gallery.enroll(vectors["biden.jpg"][None], CONSENT, "IDREF-2", 30)
    assert gallery.remove(b) and not gallery.remove(b)  # a second removal changes nothing
    gallery.clock.now += 2 * 86400  # type: ignore[attr-defined]
    assert gallery.entries() == []  # a expired
    assert gallery.changes_since(0) == [(1, "enrolled", a), (2, "enrolled", b), (3, "removed", b), (4, "removed", a)]
    assert gallery.changes_since(3) == [(4, "removed", a)] and gallery.last_change() == 4


def test_the_service_passes_gallery_changes_to_its_face_cameras(
    hall_home: Home, vectors: dict[str, np.ndarray]
) -> None:
    import queue

    from vision.config import Camera, VisionConfig
    from vision.service import Service

    cameras = [Camera(name="kiosk", source="0", faces=True), Camera(name="door", source="1")]
    service = Service(VisionConfig(), hall_home.root, cameras)
    service.queues = {"kiosk": queue.Queue(), "door": queue.Queue()}
    assert service.forward_gallery_changes() == 0  # the first look only notes where the cameras start
    gallery = Gallery.at_home(hall_home.root)
    entry = gallery.enroll(vectors["obama.jpg"][None], CONSENT, "IDREF-1", 30)  # as `hall vision enroll` does
    gallery.remove(entry)
    gallery.close()
    assert service.forward_gallery_changes() == 2 and service.forward_gallery_changes() == 0
    sent = service.queues["kiosk"].get_nowait()
    assert sent == {"op": "gallery", "changes": [[1, "enrolled", entry], [2, "removed", entry]]}
    assert service.queues["door"].empty()  # a camera without faces keeps no gallery
