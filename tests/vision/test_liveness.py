"""Liveness: the ordered challenge on hand-made readings, and whole sessions on composed camera pictures.

The live customer, the printed sheet and the screen are composed from the pinned portraits by
vision/synth.py (how, and what that leaves unmeasured, in vision/MODELS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.vision.scenes import Models, Still, Two, run_capture
from vision.liveness import Challenge, Observation, eye_ratio

BOX = (220, 120, 190, 250)


def _obs(t: float, *, yaw: float = 0.0, mesh_yaw: float | None = None, eyes: float = 0.28, pitch: float = 0.0,
         box: tuple[int, int, int, int] = BOX, screen: float = 1.0) -> Observation:  # fmt: skip
    return Observation(t, yaw, yaw * 0.9 if mesh_yaw is None else mesh_yaw, pitch, eyes, box, screen)


def _settled(actions: list[str]) -> tuple[Challenge, float]:
    c = Challenge(actions)
    t = 0.0
    while c.prompt == "look":
        c.step(_obs(t))
        t += 0.1
    return c, t


def test_a_blink_then_a_turn_to_the_customers_left_is_live() -> None:
    c, t = _settled(["blink", "turn_left"])
    assert c.prompt == "blink" and c.base_eyes == pytest.approx(0.28)
    for eyes in (0.28, 0.18, 0.17, 0.27):  # a blink: 0.18 is under 0.8 × 0.28, 0.27 back over 0.92 ×
        c.step(_obs(t, eyes=eyes))
        t += 0.1
    assert c.prompt == "turn_left"
    for yaw in (3.0, 8.0, 14.0):  # the customer's left is the picture's right: yaw grows
        c.step(_obs(t, yaw=yaw))
        t += 0.1
    assert c.verdict is not None and c.verdict.live


def test_turning_the_other_way_or_before_being_asked_fails_at_once() -> None:
    c, t = _settled(["turn_right", "blink"])
    c.step(_obs(t, yaw=11.0))  # asked right (yaw −), turned left
    assert c.verdict is not None and c.verdict.code == "wrong_turn"
    c, t = _settled(["blink", "turn_left"])
    c.step(_obs(t, yaw=-11.0))  # asked to blink, the head swings (a replayed video doing its own moves)
    assert c.verdict is not None and c.verdict.code == "early_turn"


def test_a_turn_without_parallax_in_the_mesh_is_no_turn() -> None:
    c, t = _settled(["turn_left", "blink"])
    for i in range(70):  # seven seconds: five points read 15°, the mesh 3°: a bent sheet turned, not a head
        c.step(_obs(t + 0.1 * i, yaw=15.0, mesh_yaw=3.0))
    assert c.verdict is not None and c.verdict.code == "no_turn"


def test_eyes_shortened_while_the_head_tips_are_no_blink() -> None:
    c, t = _settled(["blink", "turn_left"])
    for eyes, pitch in ((0.18, 12.0), (0.28, 0.0)):  # closed at a 12° tip, open level again
        c.step(_obs(t, eyes=eyes, pitch=pitch))
        t += 0.1
    assert c.prompt == "blink"  # not taken: the whole face moved, not the lids


def test_a_gap_or_a_jump_of_the_face_fails() -> None:
    c, t = _settled(["blink", "turn_left"])
    c.missing(t + 1.0)  # a slow frame: nothing yet
    assert c.verdict is None
    c.missing(t + 2.0)  # two seconds without the face
    assert c.verdict is not None and c.verdict.code == "face_lost"
    c, t = _settled(["blink", "turn_left"])
    c.step(_obs(t + 2.0))  # the next frame took two seconds on a busy box, the face still there: no gap
    c.missing(t + 2.5)
    assert c.verdict is None
    c, t = _settled(["blink", "turn_left"])
    c.step(_obs(t, box=(420, 120, 190, 250)))  # 200 px in a tenth of a second: another picture
    assert c.verdict is not None and c.verdict.code == "face_jump"


def test_a_screen_texture_refuses_before_any_action() -> None:
    c = Challenge(["blink", "turn_left"])
    for i in range(10):
        c.step(_obs(0.1 * i, screen=4.0))
    assert c.verdict is not None and c.verdict.code == "screen"
    c = Challenge(["blink", "turn_left"])
    for i in range(10):  # a face held 13° aside the whole time (still "looking at the camera") settles too
        c.step(_obs(0.1 * i, yaw=13.0, screen=1.0))
    assert c.verdict is None and c.prompt == "blink"


def test_the_eye_ratio_holds_when_a_sheet_is_tipped_back() -> None:
    """Hand-worked: lids 8 px apart under brows 30 px above the lower lid read 8/30; squash the picture
    vertically by cos 40° (a sheet tipped back) and both lengths shrink alike."""
    points = np.zeros((468, 3))
    for upper, lower, brow in ((159, 145, 105), (386, 374, 334)):
        points[lower, :2] = (100, 200)
        points[upper, :2] = (100, 192)
        points[brow, :2] = (100, 170)
    assert eye_ratio(points) == pytest.approx(8 / 30)
    squashed = points.copy()
    squashed[:, 1] *= np.cos(np.radians(40))
    assert eye_ratio(squashed) == pytest.approx(8 / 30)


# -- whole sessions on composed pictures ------------------------------------------------------------


@pytest.fixture(scope="module")
def models(fetched: list[Path]) -> Models:
    return Models()


@pytest.fixture(scope="module")
def portrait(fetched: list[Path]) -> object:
    from vision.synth import Portrait

    return Portrait("obama.jpg")


def test_a_live_customer_who_does_what_is_asked_passes(models: Models, portrait: object) -> None:
    from vision.synth import Person

    actions = ["turn_right", "blink"]
    result, prompts = run_capture(models, Person(portrait, seed=1), actions)  # type: ignore[arg-type]
    assert result.ok, result.reason
    assert prompts == ["look", "turn_right", "look", "blink"]  # back to the camera before the blink is asked
    assert len(result.vectors) >= 3  # captures before the first action and after the last


def test_a_photo_held_still_or_moved_by_hand_is_refused(models: Models, portrait: object) -> None:
    from vision.synth import PrintedSheet

    still, _ = run_capture(models, Still(portrait.image), ["blink", "turn_left"])  # type: ignore[attr-defined]
    assert (still.ok, still.code) == (False, "liveness") and "no blink" in still.reason
    # a sheet bent and tipped back when a blink is asked (which shortens the eyes, and the brows with them)
    bent, _ = run_capture(models, PrintedSheet(portrait, seed=3, bend=1.0, tilt_deg=40), ["blink", "turn_right"])  # type: ignore[arg-type]
    assert (bent.ok, bent.code) == (False, "liveness") and "no blink" in bent.reason


def test_a_replayed_video_or_a_coarse_screen_is_refused(models: Models, portrait: object) -> None:
    from vision.synth import ScreenReplay

    # a recording doing its own moves on a fine screen: it turns while a blink is asked
    replay, _ = run_capture(models, ScreenReplay(portrait, pitch_px=1.1, seed=2), ["blink", "turn_right"])  # type: ignore[arg-type]
    assert (replay.ok, replay.code) == (False, "liveness") and "turned" in replay.reason
    # played by hand to follow the prompts, on a screen whose pixels the camera resolves: the texture
    coarse, _ = run_capture(models, ScreenReplay(portrait, pitch_px=1.6, follow=True), ["blink", "turn_left"])  # type: ignore[arg-type]
    assert (coarse.ok, coarse.code) == (False, "liveness") and "screen" in coarse.reason


def test_two_people_in_front_of_the_camera_end_the_session(models: Models, portrait: object) -> None:
    from vision.synth import Person, Portrait

    scene = Two(Person(portrait, seed=1), Person(Portrait("biden.jpg"), seed=2))  # type: ignore[arg-type]
    result, _ = run_capture(models, scene, ["blink", "turn_left"])
    assert (result.ok, result.code) == (False, "several_faces")
