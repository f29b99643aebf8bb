"""Face detection, the quality gate and verification on the pinned photos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vision import assets
from vision.faces import Face, FaceDetector, quality, read_image


@pytest.fixture(scope="module")
def detector(fetched: list[Path]) -> FaceDetector:
    return FaceDetector()


def _hall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge", "vision", *args], capture_output=True, text=True, timeout=180)


def test_detect_cli_counts_faces_in_group_and_portrait_photos(fetched: list[Path]) -> None:
    group5, group6, portrait = assets.path("group5.jpg"), assets.path("group6.jpg"), assets.path("obama.jpg")
    plan = Path(__file__).parents[2] / "vision" / "floorplan.png"
    out = _hall("detect", str(group5), str(group6), str(portrait), str(plan), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [r["image"] for r in result] == [str(group5), str(group6), str(portrait), str(plan)]
    assert [len(r["faces"]) for r in result] == [5, 6, 1, 0]  # counted by eye on each photo
    for face in result[0]["faces"] + result[1]["faces"]:
        x, y, w, h = face["box"]
        assert 0.8 < face["score"] <= 1.0 and 90 < h < 260
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face["landmarks"]
        assert all(x <= px <= x + w and y <= py <= y + h for px, py in face["landmarks"])
        assert lx < nx < rx and mlx < mrx and max(ly, ry) < ny < min(mly, mry)  # eyes, nose, mouth in order
    boxes = [f["box"] for f in result[0]["faces"]]
    for i, a in enumerate(boxes):  # five separate people, not one face found twice
        for b in boxes[i + 1 :]:
            assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]


def test_detect_cli_names_an_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    out = _hall("detect", str(bad), "--json")
    assert out.returncode == 1 and "notes.jpg: not a readable image" in out.stderr


def test_head_pose_reads_roll_and_the_side_a_face_turns_to() -> None:
    import math

    from vision.faces import TEMPLATE, head_pose

    pts = TEMPLATE - TEMPLATE.mean(axis=0)
    a = math.radians(20)  # the whole face turned 20° clockwise in the picture: the eye line slopes down
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    base = head_pose([tuple(p) for p in pts.tolist()])  # the template's eyes slope by a third of a degree
    tilted = head_pose([tuple(p) for p in (pts @ rot.T).tolist()])
    assert abs(tilted.roll - base.roll - 20) < 0.01 and abs(tilted.yaw - base.yaw) < 0.01
    nose_right = pts.copy()
    nose_right[2, 0] += 35.0  # the nose tip a whole eye distance right of the midline: far turned
    turned = head_pose([tuple(p) for p in nose_right.tolist()])
    assert turned.yaw > 45 and abs(turned.roll - base.roll) < 0.01
    nose_left = pts.copy()
    nose_left[2, 0] -= 35.0
    assert head_pose([tuple(p) for p in nose_left.tolist()]).yaw < -45


def _masked(image: np.ndarray, face: Face, mask: np.ndarray) -> np.ndarray:
    """A surgical-mask photo pasted over the face from just under the eyes to below the chin, as a mask
    is worn (the mask picture is insightface's own, made for the same purpose)."""
    import cv2

    (lx, _), (rx, _), (_, ny), (_, my), _ = face.landmarks
    eyes = rx - lx
    x0, x1 = int(lx - 0.9 * eyes), int(rx + 0.9 * eyes)
    y0, y1 = int(ny - 0.45 * eyes), int(my + 1.1 * eyes)
    out = image.copy()
    out[max(0, y0) : y1, max(0, x0) : x1] = cv2.resize(mask, (x1 - max(0, x0), y1 - max(0, y0)))
    return out


def test_quality_gate_refuses_cut_small_blurred_tilted_turned_and_covered_faces(detector: FaceDetector) -> None:
    import cv2

    image = read_image(assets.path("obama.jpg"))
    face = detector.detect(image)[0]
    assert quality(image, face).ok
    small = cv2.resize(image, None, fx=0.15, fy=0.15)
    faces = detector.detect(small)
    assert faces and "too small" in quality(small, faces[0]).reason
    blurred = cv2.GaussianBlur(image, (0, 0), 6)
    assert "blurred" in quality(blurred, face).reason
    h, w = image.shape[:2]
    turn = cv2.getRotationMatrix2D((face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2), 40, 1.0)
    tilted = cv2.warpAffine(image, turn, (w, h), borderMode=cv2.BORDER_REPLICATE)
    found = detector.detect(tilted)
    assert found and "tilted" in quality(tilted, found[0]).reason
    blank = np.full_like(image, 128)
    assert "blurred" in quality(blank, face).reason
    partial = read_image(assets.path("obama_partial_face.jpg"))  # half a face at the picture's edge
    assert "cut off" in quality(partial, detector.detect(partial)[0]).reason
    group = read_image(assets.path("group6.jpg"))
    verdicts = [quality(group, f) for f in detector.detect(group)]
    turned = [q for q in verdicts if not q.ok]
    assert len(turned) == 1 and "turned aside" in turned[0].reason  # the man looking sideways, top right
    mask = read_image(assets.path("mask_white.jpg"))
    covered = _masked(image, face, mask)
    found = detector.detect(covered)
    assert found and "covered" in quality(covered, found[0]).reason


def test_every_bare_frontal_face_of_the_pinned_photos_passes(detector: FaceDetector) -> None:
    passed, total = 0, 0
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "group5.jpg", "group6.jpg"):
        image = read_image(assets.path(name))
        for face in detector.detect(image):
            total += 1
            passed += quality(image, face).ok
    assert (passed, total) == (14, 15)  # all but the one turned aside in group6


def test_verify_pairs_same_and_different_people(fetched: list[Path], tmp_path: Path) -> None:
    d = assets.assets_dir()
    rows = [
        ("obama.jpg", "obama2.jpg"),
        ("obama2.jpg", "obama3.jpg"),
        ("obama.jpg", "obama3.jpg"),
        ("obama.jpg", "biden.jpg"),
        ("biden.jpg", "obama3.jpg"),
        ("obama.jpg", "group5.jpg"),
    ]
    csv = tmp_path / "pairs.csv"
    csv.write_text("a,b\n" + "".join(f"{d / a},{d / b}\n" for a, b in rows))
    out = _hall("verify", "--pairs", str(csv), "--json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(Path(r["a"]).name, Path(r["b"]).name) for r in lines] == rows
    assert [r["same"] for r in lines] == [True, True, True, False, False, False]
    assert min(r["similarity"] for r in lines[:3]) > max(r["similarity"] for r in lines[3:])


def test_verify_without_a_usable_face_says_why(fetched: list[Path]) -> None:
    plan = Path(__file__).parents[2] / "vision" / "floorplan.png"
    out = _hall("verify", str(assets.path("obama.jpg")), str(plan), "--json")
    result = json.loads(out.stdout)
    assert result["same"] is False and result["similarity"] is None
    assert result["reason"].endswith("floorplan.png: no face found")
    out = _hall("verify", str(assets.path("obama.jpg")), "--json")
    assert out.returncode == 2 and "two images" in out.stderr


def test_calibrate_sets_the_threshold_between_impostors_and_genuine_pairs(fetched: list[Path], tmp_path: Path) -> None:
    d = assets.assets_dir()
    rows = [
        ("obama.jpg", "obama2.jpg", 1),
        ("obama2.jpg", "obama3.jpg", 1),
        ("obama.jpg", "obama3.jpg", 1),
        ("obama.jpg", "biden.jpg", 0),
        ("biden.jpg", "obama3.jpg", 0),
        ("biden.jpg", "obama2.jpg", 0),
    ]
    csv = tmp_path / "labelled.csv"
    csv.write_text("a,b,same\n" + "".join(f"{d / a},{d / b},{s}\n" for a, b, s in rows))
    out = _hall("calibrate", "--pairs", str(csv), "--far", "0.01", "--json")
    assert out.returncode == 0, out.stderr
    cal = json.loads(out.stdout)
    assert (cal["genuine"], cal["impostor"], cal["false_accepts"], cal["false_rejects"]) == (3, 3, 0, 0)
    assert cal["enough"] is False  # three impostor pairs cannot show 1 %
    verified = _hall("verify", "--pairs", str(csv), "--json")
    sims = [json.loads(line)["similarity"] for line in verified.stdout.splitlines()]
    assert max(sims[3:]) < cal["threshold"] <= min(sims[:3])
    assert cal["config"] == f"match_threshold = {cal['threshold']:.4f}"
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text(f"a,b\n{d / 'obama.jpg'},{d / 'biden.jpg'}\n")
    bad = _hall("calibrate", "--pairs", str(unlabelled))
    assert bad.returncode == 2 and "needs columns a,b,same" in bad.stderr


def test_a_calibrated_threshold_decides_the_vote() -> None:
    from vision.matching import Voter

    strict, lenient = Voter(window=3, need=2, threshold=0.8), Voter(window=3, need=2, threshold=0.5)
    for _ in range(3):
        strict_say = strict.add("vip-1", 0.7, 0.1)
        lenient_say = lenient.add("vip-1", 0.7, 0.1)
    assert (strict_say, lenient_say) == (None, "vip-1")
