"""People counting on the real sample video against hand-labelled crossings (vtest_crossings.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from vision.camera import video_frames
from vision.geometry import Line
from vision.people import BlobDetector, LineCounter, Tracker

TRUTH = json.loads((Path(__file__).parent / "vtest_crossings.json").read_text())
SLACK = 8  # frames between the labelled crossing and the counted one (the dead band around the line)


def _expected(direction: str) -> int:
    return sum(1 for c in TRUTH["crossings"] if c["direction"] == direction)


def test_count_cli_matches_the_labelled_counts(vtest: Path) -> None:
    line = ",".join(str(v) for v in TRUTH["line"])
    argv = [sys.executable, "-m", "edge", "vision", "count", str(vtest), "--line", line]
    argv += ["--max-frames", str(TRUTH["frames"]), "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    counts = json.loads(out.stdout)
    assert set(counts) == {"in", "out"}
    # Two people walking shoulder to shoulder can merge into one blob: one miss per direction allowed.
    assert abs(counts["in"] - _expected("in")) <= 1, counts
    assert abs(counts["out"] - _expected("out")) <= 1, counts


def test_every_counted_crossing_is_a_labelled_one(vtest: Path) -> None:
    detector, tracker, counter = BlobDetector(), Tracker(), LineCounter(Line(*TRUTH["line"]))
    counted = []
    for n, t, frame in video_frames(str(vtest), TRUTH["frames"]):
        counted += [(n, c.direction) for c in counter.update(tracker.update(detector.detect(frame), t), t)]
    unmatched = list(TRUTH["crossings"])
    false = []
    for frame, direction in counted:
        match = next(
            (c for c in unmatched if c["direction"] == direction and abs(c["frame"] - frame) <= SLACK),
            None,
        )
        if match is None:
            false.append((frame, direction))
        else:
            unmatched.remove(match)
    assert false == [], f"counted crossings nobody made: {false}"
    assert len(unmatched) <= 2, f"labelled crossings missed: {unmatched}"


def test_count_cli_rejects_a_bad_line(vtest: Path) -> None:
    argv = [sys.executable, "-m", "edge", "vision", "count", str(vtest), "--line", "1,2,3", "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "X1,Y1,X2,Y2" in out.stderr


def test_count_cli_names_a_missing_video(tmp_path: Path) -> None:
    missing = tmp_path / "nope.avi"
    argv = [sys.executable, "-m", "edge", "vision", "count", str(missing), "--line", "0,0,1,1", "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "nope.avi" in out.stderr and "no such video file" in out.stderr


def test_heatmap_cli_draws_where_people_walked(vtest: Path, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    out_png = tmp_path / "heat.png"
    argv = [sys.executable, "-m", "edge", "vision", "heatmap", str(vtest), "--out", str(out_png), "--max-frames", "150"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120)
    summary = json.loads(out.stdout)
    assert summary["person_seconds"] > 10 and summary["cells"] > 5
    image = cv2.imread(str(out_png))
    plan = cv2.imread(str(Path(__file__).parents[2] / "vision" / "floorplan.png"))
    changed = np.abs(image.astype(int) - plan.astype(int)).sum(axis=2) > 30
    # The demo mapping puts the video's walkway on the waiting area (floor x 200–600, y 200–480).
    assert changed[200:480, 200:600].sum() > 2000
    assert changed[:150].sum() == 0 and changed[:, :150].sum() == 0
