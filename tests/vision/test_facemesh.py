"""mediapipe's face mesh (in LiteRT) on the pinned photos, and blinks counted from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vision import assets
from vision.facemesh import EYELIDS, FaceMesh, LivenessCue, Mesh
from vision.faces import FaceDetector, head_pose, read_image


@pytest.fixture(scope="module")
def meshes(fetched: list[Path]) -> dict[str, list[tuple[Mesh, float]]]:
    detector, mesher = FaceDetector(), FaceMesh()
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "group6.jpg"):
        image = read_image(assets.path(name))
        out[name] = [(mesher.mesh(image, f.landmarks), head_pose(f.landmarks).yaw) for f in detector.detect(image)]
    return out


def test_the_mesh_fits_the_face_and_agrees_with_the_five_points_on_the_turn(meshes: dict) -> None:
    ((portrait, _),) = meshes["obama.jpg"]
    assert portrait.points.shape == (468, 3) and portrait.presence > 0.9
    x, y = portrait.points[:, 0], portrait.points[:, 1]
    # on the face: within YuNet's box (372, 85, 236, 335) grown by a tenth each side (the mesh's jaw line)
    assert x.min() >= 372 - 24 and x.max() <= 372 + 236 + 24 and y.min() >= 85 - 34 and y.max() <= 85 + 335 + 34
    assert x.max() - x.min() > 0.7 * 236  # and spread over it, not collapsed
    assert all(0.15 < e < 0.6 for e in portrait.eye_openness())  # eyes open
    assert abs(portrait.pose().yaw) < 10
    for mesh, five_point_yaw in meshes["obama2.jpg"] + meshes["group6.jpg"]:
        if abs(five_point_yaw) > 15:  # clearly turned: both read the same side
            assert np.sign(mesh.pose().yaw) == np.sign(five_point_yaw)
    turned = min(meshes["group6.jpg"], key=lambda m: m[1])  # the man looking aside
    assert turned[1] < -30 and turned[0].pose().yaw < -25


def _eyes_shut(mesh: Mesh) -> Mesh:
    """The same mesh with each upper eyelid laid on the lower one (a closed eye)."""
    points = mesh.points.copy()
    for upper, lower in EYELIDS:
        points[upper] = points[lower]
    return Mesh(points, mesh.presence)


def test_a_short_closure_is_a_blink_and_a_long_one_or_a_still_photo_is_not(meshes: dict) -> None:
    ((open_mesh, _),) = meshes["obama.jpg"]
    shut = _eyes_shut(open_mesh)
    cue = LivenessCue(window_s=20.0)
    t = 0.0
    for closed_for in (0.2, 0.3, 2.0):  # two blinks, then eyes shut for two seconds
        for _ in range(10):  # a second of open eyes at 10 frames a second
            cue.add(t, open_mesh)
            t += 0.1
        for _ in range(round(closed_for / 0.1)):
            cue.add(t, shut)
            t += 0.1
        cue.add(t, open_mesh)
        t += 0.1
    assert cue.summary()["blinks"] == 2
    photo = LivenessCue()
    for i in range(100):  # a printed photo: the same face, unmoving, for ten seconds
        photo.add(i / 10, open_mesh)
    assert photo.summary() == {"blinks": 0, "yaw_range": 0.0, "pitch_range": 0.0, "frames": 100}
