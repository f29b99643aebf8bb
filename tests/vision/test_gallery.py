"""The face gallery: enrolment integrity, keyed references only, encryption at rest, retention, withdrawal."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.identity import CustomerKey, Keyring, load_key, make_ref, save_keyring
from edge.paths import Home
from vision import assets
from vision.audit import AuditLog
from vision.embed import FaceEncoder
from vision.faces import read_image
from vision.gallery import Consent, Gallery, GalleryError, check_private
from vision.matching import Visits, Voter, best_two

CONSENT = Consent(who="王*", when="2026-11-25T09:30:00+08:00", purposes=["ticket"], screen="kiosk-1")
NUMBER = "11010519491231002X"  # a demo card of drivers/idcard/sim.py (valid check digit, nobody's)


def _who(ref: str = "a") -> dict[str, str]:
    return {"kind": "id", "hash": ref * 64, "masked": "1101**********002X", "name_masked": "王*"}


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
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "audit.db", clock=Clock())
    yield log
    log.close()


@pytest.fixture
def gallery(tmp_path: Path, audit: AuditLog) -> Iterator[Gallery]:
    g = Gallery(tmp_path / "gallery.db", tmp_path / "keys" / "gallery.key", clock=audit.clock, audit=audit)
    yield g
    g.close()


def _hall(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HALL_HOME": str(home.root)}
    argv = [sys.executable, "-m", "edge", "vision", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)


def _audit_rows(home: Home) -> list[dict[str, object]]:
    out = _hall(home, "audit", "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_two_photos_of_one_person_enrol_under_the_hashed_card_and_withdraw(
    hall_home: Home, fetched: list[Path]
) -> None:
    photos = [str(assets.path("obama.jpg")), str(assets.path("obama2.jpg"))]
    consent = ["--purpose", "ticket,vip_arrival", "--screen", "kiosk-1"]
    out = _hall(hall_home, "enroll", *photos, "--id-ref", f"id:{NUMBER}:王小明", *consent, "--json")
    assert out.returncode == 0, out.stderr
    entry, ref = json.loads(out.stdout)["id"], json.loads(out.stdout)["ref"]
    assert ref == make_ref("id", NUMBER, key=load_key(hall_home.secret_path)).hash  # the kiosk's hash of that card
    assert (hall_home.root / "vision" / "gallery.key").stat().st_mode & 0o777 == 0o600
    assert (hall_home.root / "vision" / "gallery.db").stat().st_mode & 0o777 == 0o600
    for name in ("gallery.db", "audit.db"):
        raw = (hall_home.root / "vision" / name).read_bytes()
        assert NUMBER.encode() not in raw and "王小明".encode() not in raw
    listed = json.loads(_hall(hall_home, "gallery", "list", "--json").stdout)
    assert [(e["id"], e["ref"], e["masked"], e["name_masked"], e["purposes"]) for e in listed] == [
        (entry, ref, "1101**********002X", "王*明", ["ticket", "vip_arrival"])
    ]
    assert NUMBER not in json.dumps(listed)
    assert _hall(hall_home, "gallery", "remove", entry).returncode == 0
    assert json.loads(_hall(hall_home, "gallery", "list", "--json").stdout) == []
    again = _hall(hall_home, "gallery", "remove", entry)
    assert again.returncode == 1 and f"no entry {entry}" in again.stderr
    rows = _audit_rows(hall_home)
    assert [(r["place"], r["purpose"], r["decision"], r["ref"]) for r in rows] == [
        ("cli", "enrolment", "enrolled", ref),
        ("cli", "withdrawal", "withdrawn", ref),
    ]


def test_a_card_enrolled_once_hq_sent_its_customer_key_is_hashed_with_that_key(
    hall_home: Home, fetched: list[Path]
) -> None:
    """The hash the card readers make and HQ's bundles name, not the box's own key's."""
    hq_key = bytes(range(32))
    hall_home.root.mkdir(parents=True, exist_ok=True)
    save_keyring(hall_home.customer_keys_path, Keyring(CustomerKey("ck-1", hq_key)))
    consent = ["--purpose", "ticket", "--screen", "kiosk-1"]
    out = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), "--id-ref", f"id:{NUMBER}", *consent, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ref"] == make_ref("id", NUMBER, key=hq_key).hash
    assert hq_key != load_key(hall_home.secret_path)


def test_group_photos_mixed_people_and_poor_faces_are_refused_with_the_reason(
    hall_home: Home, tmp_path: Path, fetched: list[Path]
) -> None:
    import cv2

    consent = ["--id-ref", "b" * 64, "--purpose", "ticket", "--screen", "kiosk-1"]
    group = _hall(hall_home, "enroll", str(assets.path("group6.jpg")), *consent)
    assert group.returncode == 1 and "group6.jpg: refused: 5 usable faces" in group.stderr
    five = _hall(hall_home, "enroll", str(assets.path("group5.jpg")), *consent)
    assert five.returncode == 1 and "usable faces; a capture must show the customer alone" in five.stderr
    mixed = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), str(assets.path("biden.jpg")), *consent)
    assert mixed.returncode == 1
    assert "obama.jpg and " in mixed.stderr and "biden.jpg are not of the same person" in mixed.stderr
    small = tmp_path / "small.jpg"
    cv2.imwrite(str(small), cv2.resize(read_image(assets.path("obama.jpg")), None, fx=0.15, fy=0.15))
    poor = _hall(hall_home, "enroll", str(small), *consent)
    assert poor.returncode == 1 and "small.jpg: refused: no usable face (face too small" in poor.stderr
    purpose = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), "--id-ref", "b" * 64, "--purpose", "ads",
                    "--screen", "k")  # fmt: skip
    assert purpose.returncode == 2 and "unknown purpose 'ads' (known: ticket, vip_arrival)" in purpose.stderr
    assert json.loads(_hall(hall_home, "gallery", "list", "--json").stdout) == []
    refused = [r for r in _audit_rows(hall_home) if r["decision"] == "refused"]
    assert len(refused) == 4 and all(r["purpose"] == "enrolment" for r in refused)


def test_one_face_is_one_customer(hall_home: Home, fetched: list[Path]) -> None:
    consent = ["--purpose", "ticket", "--screen", "kiosk-1"]
    first = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), "--id-ref", "c" * 64, *consent)
    assert first.returncode == 0, first.stderr
    other = _hall(hall_home, "enroll", str(assets.path("obama3.jpg")), "--id-ref", "d" * 64, *consent)
    assert other.returncode == 1 and "already enrolled for another customer" in other.stderr
    same = _hall(hall_home, "enroll", str(assets.path("obama3.jpg")), "--id-ref", "c" * 64, *consent)
    assert same.returncode == 0, same.stderr  # the same customer again: the new entry replaces the old
    listed = json.loads(_hall(hall_home, "gallery", "list", "--json").stdout)
    assert [e["ref"] for e in listed] == ["c" * 64]


def test_a_card_number_needs_the_halls_key_and_is_never_stored(hall_home: Home, fetched: list[Path]) -> None:
    (hall_home.root / "secret.key").write_text("zz")  # unreadable as a key
    out = _hall(hall_home, "enroll", str(assets.path("obama.jpg")), "--id-ref", NUMBER, "--purpose", "ticket",
                "--screen", "k")  # fmt: skip
    assert out.returncode == 2 and "cannot be read by this user" in out.stderr
    assert not (hall_home.root / "vision" / "gallery.db").exists()  # refused before anything was written


def test_enroll_refuses_raw_numbers_and_replaces_a_customers_entry(gallery: Gallery, vectors: dict) -> None:
    with pytest.raises(GalleryError, match="keyed hash of the card"):
        gallery.enroll(vectors["obama.jpg"][None], CONSENT, {"hash": NUMBER, "masked": "x"}, 30)
    with pytest.raises(GalleryError, match="retention"):
        gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who(), 0)
    first = gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who(), 30)
    second = gallery.enroll(vectors["obama2.jpg"][None], CONSENT, _who(), 30)
    assert [e.id for e in gallery.entries()] == [second] and first != second
    assert gallery.changes_since(0) == [(1, "enrolled", first), (2, "removed", first), (3, "enrolled", second)]


def test_retention_counts_from_the_last_use_and_expiry_is_audited(gallery: Gallery, vectors: dict) -> None:
    clock = gallery.clock
    kept = gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who("a"), 180)
    unused = gallery.enroll(vectors["biden.jpg"][None], CONSENT, _who("b"), 180)
    clock.now += 170 * 86400
    assert gallery.touch_ref("a" * 64, 180) == 1  # a confirmed ticket by face on day 170
    clock.now += 11 * 86400  # day 181: the unused entry is gone, the used one lives to day 350
    assert [e.id for e in gallery.entries()] == [kept]
    assert gallery.db.execute("SELECT COUNT(*) FROM entries WHERE id = ?", (unused,)).fetchone() == (0,)
    clock.now += 169 * 86400
    assert gallery.entries() == []
    rows = gallery.audit.since(0)  # type: ignore[union-attr]
    assert [(r["decision"], r["ref"]) for r in rows] == [("expired", "b" * 64), ("expired", "a" * 64)]


def test_withdrawal_by_card_finds_the_entries_by_their_blind_index(gallery: Gallery, vectors: dict) -> None:
    a = gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who("a"), 30)
    gallery.enroll(vectors["biden.jpg"][None], CONSENT, _who("b"), 30)
    assert gallery.remove_ref_audited("a" * 64, place="kiosk:k1", reason="withdrawn by the customer") == [a]
    assert [e.ref for e in gallery.entries()] == ["b" * 64]
    clear = [r[0] for r in gallery.db.execute("SELECT ref_index FROM entries")]
    assert clear and "b" * 64 not in clear  # the reference itself is not in clear
    (row,) = gallery.audit.since(0)  # type: ignore[union-attr]
    assert (row["place"], row["decision"], row["reason"]) == (
        "kiosk:k1",
        "withdrawn",
        "withdrawn by the customer: 1 entry deleted",
    )


def test_matching_votes_by_purpose_and_an_unknown_face_abstains(gallery: Gallery, vectors: dict) -> None:
    from vision.matching import GalleryIndex

    vip = Consent(who="王*", when="2026-11-25T09:30:00+08:00", purposes=["vip_arrival"], screen="kiosk-1")
    obama = gallery.enroll(np.stack([vectors["obama.jpg"], vectors["obama2.jpg"]]), vip, _who("a"), 30)
    gallery.enroll(vectors["biden.jpg"][None], CONSENT, _who("b"), 30)
    index = GalleryIndex.load(gallery)
    assert index.count("vip_arrival") == 1 and index.count("ticket") == 1
    assert index.best_two(vectors["biden.jpg"], "vip_arrival")[0] == obama  # Biden consented to tickets only
    assert index.best_two(vectors["obama3.jpg"], "ticket")[1] < 0.5  # Obama is not there for tickets
    ids, matrix = gallery.matrix()
    voter = Voter(window=5, need=3)
    decisions = [voter.add(*best_two(ids, matrix, vectors["obama3.jpg"])) for _ in range(3)]
    assert decisions == [None, None, obama]  # three agreeing frames before a name
    stranger = Voter()
    assert [stranger.add(*index.best_two(vectors["biden.jpg"], "vip_arrival")) for _ in range(10)] == [None] * 10


def test_the_key_must_be_private_and_the_right_one(tmp_path: Path, vectors: dict) -> None:
    g = Gallery(tmp_path / "vision" / "gallery.db", tmp_path / "vision" / "gallery.key")
    g.enroll(vectors["obama.jpg"][None], CONSENT, _who(), 30)
    g.close()
    assert check_private(tmp_path) == []
    (tmp_path / "vision" / "gallery.key").chmod(0o640)
    assert check_private(tmp_path) == [
        f"{tmp_path / 'vision' / 'gallery.key'}: key file is readable by others (mode 640); chmod 600 it"
    ]
    with pytest.raises(GalleryError, match="readable by others"):
        Gallery.at_home(tmp_path)
    (tmp_path / "vision" / "gallery.key").chmod(0o600)
    os.chown(tmp_path / "vision" / "gallery.key", 65534, -1)  # another user's (the tests run as root)
    with pytest.raises(GalleryError, match="belongs to user id 65534"):
        Gallery.at_home(tmp_path)
    other = Gallery(tmp_path / "vision" / "gallery.db", tmp_path / "other.key")
    with pytest.raises(GalleryError, match="cannot be decrypted"):
        other.entries()
    other.close()


def test_a_vip_arrives_once_per_visit() -> None:
    visits = Visits(gap_s=3600)
    assert [visits.arrived("a", t) for t in (0, 10, 1000, 3000)] == [True, False, False, False]
    assert visits.arrived("a", 3000 + 3600) and visits.arrived("b", 3001)


def _first_version(path: Path, key_path: Path, vec: np.ndarray, ref: str, who: str) -> str:
    """An entry as the gallery's first version wrote it: ``id_card_ref`` as typed, a free-text purpose."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from vision.gallery import load_key as gallery_key

    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS entries (id TEXT PRIMARY KEY, enrolled REAL NOT NULL,"
        " expires REAL NOT NULL, nonce BLOB NOT NULL, sealed BLOB NOT NULL)"
    )
    entry = os.urandom(16).hex()
    consent = {"who": who, "when": "2026-01-01T00:00:00", "purpose": "刷脸取号、免带证件办理", "screen": "kiosk-1"}
    payload = {"embeddings": vec.round(6).tolist(), "id_card_ref": ref, "consent": consent}
    nonce = os.urandom(12)
    sealed = AESGCM(gallery_key(key_path)).encrypt(nonce, json.dumps(payload).encode(), entry.encode())
    conn.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?)", (entry, 1.7e9, 4.0e9, nonce, sealed))
    conn.commit()
    conn.close()
    return entry


def test_raw_numbers_left_by_the_first_version_are_hashed_once_with_the_halls_key(
    tmp_path: Path, vectors: dict
) -> None:
    db, key = tmp_path / "gallery.db", tmp_path / "gallery.key"
    raw = _first_version(db, key, vectors["obama.jpg"][None], NUMBER, "王小明")
    hashed = _first_version(db, key, vectors["biden.jpg"][None], "e" * 64, "1101**********1234")
    with pytest.raises(GalleryError, match="raw ID number; the hall's key"):
        Gallery(db, key)  # without the hall's key nothing is guessed
    hall_key = b"k" * 32
    g = Gallery(db, key, hall_key=hall_key)
    entries = {e.id: e for e in g.entries()}
    assert entries[raw].ref == make_ref("id", NUMBER, key=hall_key).hash
    assert entries[raw].customer["masked"] == "1101**********002X"
    assert entries[raw].consent["who"] == "王*明" and entries[raw].purposes == ("ticket",)
    assert entries[hashed].ref == "e" * 64 and entries[hashed].consent["who"] == "1101**********1234"
    names = [r[0] for r in g.db.execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    assert names == ["m001_entries", "m002_changes", "m003_purposes_and_ref_index"]
    assert [op for _, op, _ in g.changes_since(0)] == ["enrolled"] * 4  # as found, then as rewritten
    # the kiosk's withdrawal for that card now finds it
    assert g.remove_ref(make_ref("id", NUMBER, key=hall_key).hash) == [raw]
    g.close()
    assert NUMBER.encode() not in db.read_bytes()
    Gallery(db, key).close()  # nothing raw is left: the hall's key is no longer needed


def test_the_service_passes_gallery_changes_to_its_face_cameras(hall_home: Home, vectors: dict) -> None:
    import queue

    from vision.config import Camera, VisionConfig
    from vision.service import Service

    cameras = [Camera(name="kiosk", source="0", faces=True), Camera(name="door", source="1")]
    service = Service(VisionConfig(), hall_home.root, cameras)
    service.queues.update({"kiosk": queue.Queue(), "door": queue.Queue()})
    assert service.desk.forward_gallery_changes() == 0  # the first look only notes where the cameras start
    gallery = Gallery.at_home(hall_home.root)
    entry = gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who(), 30)  # as `hall vision enroll` does
    gallery.remove(entry)
    gallery.close()
    assert service.desk.forward_gallery_changes() == 2 and service.desk.forward_gallery_changes() == 0
    sent = service.queues["kiosk"].get_nowait()
    assert sent == {"op": "gallery", "changes": [[1, "enrolled", entry], [2, "removed", entry]]}
    assert service.queues["door"].empty()  # a camera without faces keeps no gallery
    service.desk.close()


def test_consent_for_a_kiosk_without_a_face_camera_is_answered_and_audited(hall_home: Home) -> None:
    from vision.config import VisionConfig
    from vision.service import Service

    service = Service(VisionConfig(), hall_home.root, [])
    customer = {"kind": "id", "hash": "a" * 64, "masked": "3201**1234"}
    consent = {"customer": customer, "purposes": ["ticket"], "decision": "granted", "kiosk": "kiosk-9", "request": "r1"}
    assert service.desk.on_consent(consent, "2026-01-01") == [
        (
            "face.enroll_failed",
            {
                "customer": "3201**1234",
                "kiosk": "kiosk-9",
                "request": "r1",
                "code": "no_camera",
                "reason": "no camera with faces on faces kiosk kiosk-9",
            },
            False,
        )
    ]
    assert service.desk.on_consent({**consent, "purposes": ["marketing"]}, "x") == []  # no purpose we know
    assert service.desk.on_consent({**consent, "customer": {"hash": NUMBER, "masked": "x"}}, "x") == []  # not a hash
    (row,) = service.desk.audit.since(0)
    assert (row["purpose"], row["decision"], row["ref"]) == ("enrolment", "refused", "a" * 64)
    service.desk.close()


def test_a_withdrawal_recorded_while_vision_was_down_still_deletes_the_face(core: object, vectors: dict) -> None:
    from edge.bus import BusClient, Endpoints
    from vision.config import VisionConfig
    from vision.service import Service

    home = Home.from_env()
    gallery = Gallery.at_home(home.root)
    kept = gallery.enroll(vectors["biden.jpg"][None], CONSENT, _who("b"), 30)
    gallery.enroll(vectors["obama.jpg"][None], CONSENT, _who("a"), 30)
    gallery.close()
    with BusClient("kiosk", endpoints=Endpoints.local(home)) as bus:
        withdrawn = {
            "customer": {"kind": "id", "hash": "a" * 64, "masked": "1101**********002X"},
            "purposes": ["ticket"],
            "screen": "consent",
            "decision": "withdrawn",
            "kiosk": "k1",
        }
        bus.request("event.publish", {"topic": "consent.recorded", "data": withdrawn})
        service = Service(VisionConfig(), home.root, [])
        out = service.desk.catch_up_withdrawals(bus)
        assert out == [("face.forgotten", {"customer": "1101**********002X", "kiosk": "k1", "removed": 1}, False)]
        assert service.desk.catch_up_withdrawals(bus) == []  # the cursor is kept: nothing read twice
    gallery = Gallery.at_home(home.root)
    try:
        assert [e.id for e in gallery.entries()] == [kept]
    finally:
        gallery.close()
    assert [r["decision"] for r in service.desk.audit.since(0)] == ["withdrawn"]
    service.desk.close()


def test_a_full_disk_leaves_no_short_gallery_key_behind(small_disk: Path) -> None:
    from tests.edge.test_disk_and_home import _fill
    from vision.errors import NoRoom
    from vision.gallery import load_key

    key_path = small_disk / "vision" / "gallery.key"
    key_path.parent.mkdir()
    filler = _fill(small_disk)
    with pytest.raises(NoRoom, match="disk is full: the gallery key cannot be made until there is room"):
        load_key(key_path)
    assert list(key_path.parent.iterdir()) == []  # neither an empty key nor its half-written copy
    filler.unlink()
    key = load_key(key_path)
    assert len(key) == 32 and load_key(key_path) == key


def test_a_card_read_during_a_key_rotation_moves_the_customers_entry_to_the_new_key(
    hall_home: Home, vectors: dict
) -> None:
    """Raw numbers are never kept: only a card read while the old key is still accepted can re-key an entry."""
    import hashlib
    import hmac
    import time

    from kiosk_ui.tours import card_event
    from vision.config import VisionConfig
    from vision.service import Service

    old_key, new_key = bytes(range(32)), bytes(range(32, 64))
    by_hand = {k: hmac.new(k, f"id:{NUMBER}".encode(), hashlib.sha256).hexdigest() for k in (old_key, new_key)}
    hall_home.root.mkdir(parents=True, exist_ok=True)
    save_keyring(hall_home.customer_keys_path, Keyring(CustomerKey("ck-1", old_key)))
    gallery = Gallery.at_home(hall_home.root)
    mine = gallery.enroll(vectors["obama.jpg"][None], CONSENT, {**_who(), "hash": by_hand[old_key]}, 30)
    other = gallery.enroll(vectors["biden.jpg"][None], CONSENT, _who("b"), 30)
    gallery.close()
    service = Service(VisionConfig(), hall_home.root, [])
    try:
        # HQ rotates the key; the old one is accepted a while more, so a card read carries both hashes
        overlap_ends = time.time() + 7 * 86400
        save_keyring(
            hall_home.customer_keys_path,
            Keyring(CustomerKey("ck-2", new_key), (CustomerKey("ck-1", old_key, until=overlap_ends),)),
        )
        read = card_event(hall_home, name="王小明", number=NUMBER, elderly=False)
        assert (read["customer"]["hash"], read["customer"]["also"]) == (by_hand[new_key], [by_hand[old_key]])
        assert service.handle({"topic": "card.id.read", "data": read, "ts": "t"}) == []

        refs = _refs(service)
        assert refs == {mine: by_hand[new_key], other: "b" * 64}  # HQ's tags, made with the new key, meet it
        (row,) = service.desk.audit.since(0)
        assert (row["place"], row["purpose"], row["decision"], row["ref"]) == (
            "reader:idcard", "enrolment", "rekeyed", by_hand[new_key],
        )  # fmt: skip
        assert by_hand[old_key][:12] in row["reason"] and NUMBER not in json.dumps(row)

        # read again: nothing is left under the old key, so nothing changes and nothing more is audited
        service.handle({"topic": "card.id.read", "data": read, "ts": "t"})
        # after the overlap a read carries the new hash only; a card not seen in time stays as it was
        save_keyring(hall_home.customer_keys_path, Keyring(CustomerKey("ck-2", new_key)))
        late = {**read, "customer": {**read["customer"], "hash": "c" * 64, "also": []}}
        service.handle({"topic": "card.id.read", "data": late, "ts": "t"})
        assert _refs(service) == refs
        assert len(service.desk.audit.since(0)) == 1
    finally:
        service.desk.close()


def _refs(service: object) -> dict[str, str]:
    gallery = service.desk.gallery()  # type: ignore[attr-defined]
    try:
        return {e.id: e.ref for e in gallery.entries()}
    finally:
        gallery.close()
