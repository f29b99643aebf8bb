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
    group, portrait = assets.path("group5.jpg"), assets.path("obama.jpg")
    plan = Path(__file__).parents[2] / "vision" / "floorplan.png"
    out = _hall("detect", str(group), str(portrait), str(plan), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [r["image"] for r in result] == [str(group), str(portrait), str(plan)]
    assert [len(r["faces"]) for r in result] == [5, 1, 0]
    for face in result[0]["faces"]:
        _, _, w, h = face["box"]
        assert 0.9 < face["score"] <= 1.0 and 100 < h < 260 and 0.5 < w / h < 1.0
    boxes = [f["box"] for f in result[0]["faces"]]
    for i, a in enumerate(boxes):  # five separate people, not one face found twice
        for b in boxes[i + 1 :]:
            assert a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]


def test_detect_cli_names_an_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    out = _hall("detect", str(bad), "--json")
    assert out.returncode == 1 and "notes.jpg: not a readable image" in out.stderr


def test_quality_gate_refuses_small_blurred_and_tilted_faces(detector: FaceDetector) -> None:
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
    q = quality(tilted, face)
    assert not q.ok and ("tilted" in q.reason or "not frontal" in q.reason)
    blank = np.full_like(image, 128)
    assert "blurred" in quality(blank, Face(face.box, 1.0)).reason


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
    from vision.gallery import Voter

    strict, lenient = Voter(window=3, need=2, threshold=0.8), Voter(window=3, need=2, threshold=0.5)
    for _ in range(3):
        strict_say = strict.add("vip-1", 0.7, 0.1)
        lenient_say = lenient.add("vip-1", 0.7, 0.1)
    assert (strict_say, lenient_say) == (None, "vip-1")
