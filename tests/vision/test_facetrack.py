"""VIP recognition on a camera: faces follow person tracks, votes decide, once per visit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision import assets
from vision.embed import FaceEncoder
from vision.faces import read_image
from vision.facetrack import FaceStage
from vision.gallery import Consent, Gallery
from vision.people import Track

CONSENT = Consent(who="Obama", when="2026-11-25T09:30:00+08:00", purpose="VIP greeting", screen="kiosk-1")


@pytest.fixture(scope="module")
def encoder(fetched: list[Path]) -> FaceEncoder:
    return FaceEncoder()


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


def test_enrolled_vip_arrives_once_and_a_stranger_never(tmp_path: Path, encoder: FaceEncoder) -> None:
    gallery = Gallery(tmp_path / "g.db", tmp_path / "g.key")
    vecs = [encoder.encode(read_image(assets.path(n)))[0] for n in ("obama.jpg", "obama2.jpg")]
    entry = gallery.enroll(np.stack(vecs), CONSENT, "IDREF-1", 30)
    stage = FaceStage("door", gallery, encoder=encoder)
    facts = []
    for i in range(6):
        frame, box = _frame("obama3.jpg", 4 * i)
        facts += stage.step(frame, [Track(11, box, hits=5, confirmed=True)], float(i))
    assert [(f.topic, f.data["entry"], f.data["who"], f.durable) for f in facts] == [
        ("vip.arrived", entry, "Obama", False)
    ]
    # The same VIP on a new track minutes later is the same visit: no second arrival.
    frame, box = _frame("obama3.jpg", 0)
    later = [f for i in range(4) for f in stage.step(frame, [Track(12, box, hits=5, confirmed=True)], 100.0 + i)]
    assert later == []
    stranger = []
    for i in range(6):
        frame, box = _frame("biden.jpg", 4 * i)
        stranger += stage.step(frame, [Track(13, box, hits=5, confirmed=True)], 200.0 + i)
    assert stranger == []
    gallery.close()


def test_the_gallery_is_loaded_once_and_follows_changes_not_the_file(tmp_path: Path, encoder: FaceEncoder) -> None:
    gallery = Gallery(tmp_path / "g.db", tmp_path / "g.key")
    vec = encoder.encode(read_image(assets.path("obama.jpg")))[0]
    entry = gallery.enroll(vec[None], CONSENT, "IDREF-1", 30)
    stage = FaceStage("door", gallery, encoder=encoder)
    assert len(stage.index) == 1
    frame, box = _frame("obama3.jpg", 0)
    assert gallery.remove(entry)  # deleted in the file; the camera is told by the change, not by re-reading
    seen = [f.topic for i in range(5) for f in stage.step(frame, [Track(1, box, hits=5, confirmed=True)], float(i))]
    assert seen == ["vip.arrived"]
    assert stage.apply_changes(gallery.changes_since(0)) == 1  # the enrolment was in its first load already
    assert len(stage.index) == 0
    later = [f for i in range(5) for f in stage.step(frame, [Track(2, box, hits=5, confirmed=True)], 10.0 + i)]
    assert later == []
    # An enrolment made elsewhere (the CLI, another camera) reaches the camera as a change too.
    again = gallery.enroll(vec[None], CONSENT, "IDREF-1", 30)
    stage.apply_changes(gallery.changes_since(stage.index.seq))
    assert list(stage.index.names) == [again]
    gallery.close()


def test_faces_feed_anonymous_emotion_shares_per_zone(tmp_path: Path, encoder: FaceEncoder) -> None:
    from vision.emotion import EmotionWindow
    from vision.geometry import Polygon

    gallery = Gallery(tmp_path / "g.db", tmp_path / "g.key")  # empty: no VIP matching, emotions still run
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
    gallery.close()
