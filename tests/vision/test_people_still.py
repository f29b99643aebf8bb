"""People who stay still stay counted: a still photo of six seated people repeated for a minute, and a
real walker who stops and stands for two minutes (see ``_stopping_walker`` for how that video is made).

Background subtraction alone loses both (the second test shows it on the same frames); the neural
detector with tracking keeps them in their zone and seat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vision import assets
from vision.analysis import Analyzer
from vision.camera import video_frames
from vision.config import Camera, Seat, VisionConfig, Zone
from vision.people import BlobDetector, Tracker, centre

# Counted by eye on group6.jpg (insightface's t1.jpg): six people seated round a table.
SEATED = 6
# vtest.avi frame 425: a walker at the bottom right, box by eye (x, y, w, h); others rarely pass there later.
STOP_FRAME, WALKER = 425, (709, 276, 52, 105)


def _camera(width: int, height: int, seat: tuple[int, int, int, int] | None = None) -> Camera:
    whole = [[0, 0], [width, 0], [width, height], [0, height]]
    seats = []
    if seat is not None:
        x, y, w, h = seat
        seats = [Seat(counter="1", polygon=[[x, y], [x + w, y], [x + w, y + h], [x, y + h]])]
    return Camera(name="still", source="0", zones=[Zone(name="hall", polygon=whole)], seats=seats)


def test_a_still_photo_of_seated_people_keeps_all_of_them_for_a_minute(fetched: list[Path]) -> None:
    import cv2

    photo = cv2.imread(str(assets.path("group6.jpg")))
    cfg = VisionConfig(occupancy_every_s=5.0)
    analyzer = Analyzer(_camera(photo.shape[1], photo.shape[0]), cfg)
    reports, dwell = [], []
    for i in range(600):  # one minute at 10 frames a second, the same frame each time
        for fact in analyzer.step(photo, i / 10):
            if fact.topic == "zone.occupancy":
                reports.append((i / 10, fact.data["people"]))
            dwell += [fact.data] if fact.topic == "zone.dwell" else []
    assert [n for _, n in reports] == [SEATED] * len(reports) and len(reports) >= 11
    assert dwell == []  # nobody "left" while sitting still
    # With nothing moving, the detector ran every idle_every_s once the background model had learnt
    # the scene (its first 30 frames, 3 s), not every detect_every_s: 15 + 12 runs, not 300.
    assert analyzer.people.detections <= 3.0 / cfg.detect_every_s + 60 / cfg.idle_every_s + 2


def _stopping_walker() -> Iterator[tuple[float, np.ndarray]]:
    """vtest.avi as it is until STOP_FRAME; from then on the walker's box (with a 12 px margin) is
    held at its STOP_FRAME pixels, plus sensor-like noise (σ = 2), while the rest of the video plays
    on and then plays again from its start: a real person who stops and stands for about two minutes
    among real passers-by. Analysed at 5 frames a second."""
    x, y, w, h = WALKER
    x0, y0, x1, y1 = x - 12, y - 12, x + w + 12, y + h + 12
    rng = np.random.default_rng(11)
    patch: np.ndarray | None = None
    t = 0.0
    for loop in range(2):
        for n, _, frame in video_frames(str(assets.path("vtest.avi"))):
            if loop == 0 and n == STOP_FRAME:
                patch = frame[y0:y1, x0:x1].astype(np.int16)
            if patch is not None:
                noisy = patch + rng.normal(0, 2, patch.shape).round().astype(np.int16)
                frame[y0:y1, x0:x1] = np.clip(noisy, 0, 255).astype(np.uint8)
            if n % 2 == 0:
                yield t, frame
            t += 0.1


def test_a_walker_who_stops_stays_on_the_seat_where_blobs_lose_them(vtest: Path) -> None:
    cfg = VisionConfig(seat_on_s=3.0, seat_off_s=10.0, detect_every_s=0.5)
    analyzer = Analyzer(_camera(768, 576, WALKER), cfg)
    blobs, blob_tracker = BlobDetector(), Tracker()
    stop_t = STOP_FRAME / 10
    seat_events: list[tuple[float, bool]] = []
    blob_covered: list[bool] = []
    end = 0.0
    for t, frame in _stopping_walker():
        end = t
        seat_events += [(t, f.data["present"]) for f in analyzer.step(frame, t) if f.topic == "seat.presence"]
        tracks = blob_tracker.update(blobs.detect(frame), t)
        if t > stop_t + 60:
            cx, cy = WALKER[0] + WALKER[2] / 2, WALKER[1] + WALKER[3] / 2
            blob_covered.append(
                any(abs(centre(tr.box)[0] - cx) < 20 and abs(centre(tr.box)[1] - cy) < 30 for tr in tracks)
            )
    assert end - stop_t > 110
    # The tracked person is present from shortly after stopping to the end: never reported absent.
    assert [p for _, p in seat_events][-1:] == [True]
    last_on = max(t for t, p in seat_events if p)
    assert last_on <= stop_t + cfg.seat_on_s + 2.0
    assert all(p for t, p in seat_events if t > stop_t)
    # Background subtraction has long absorbed the same still person: they are not a blob any more.
    assert sum(blob_covered) < 0.05 * len(blob_covered)


@pytest.mark.parametrize("bad", ["nope.avi", "nope.jpg"])
def test_people_cli_names_a_missing_file(tmp_path: Path, bad: str) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-m", "edge", "vision", "people", str(tmp_path / bad), "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and bad in out.stderr and "no such" in out.stderr


def test_people_cli_gives_an_image_one_line_and_a_video_one_line_a_second(fetched: list[Path], vtest: Path) -> None:
    import json
    import subprocess
    import sys

    photo = assets.path("group6.jpg")
    argv = [sys.executable, "-m", "edge", "vision", "people", str(photo), str(vtest), "--max-seconds", "3", "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["source"], r["t"]) for r in lines] == [(str(photo), 0.0)] + [(str(vtest), float(s)) for s in range(4)]
    image = lines[0]["people"]
    assert len(image) == SEATED and all(p["track"] is None and 0 < p["score"] <= 1 for p in image)
    assert all(len(p["box"]) == 4 for p in image)
    later = lines[-1]["people"]
    assert later and all(isinstance(p["track"], int) for p in later)
    assert len({p["track"] for p in later}) == len(later)  # one id per person
