"""Is a live person in front of the kiosk camera? Ordered actions, 3-D parallax, blinks and screen texture.

A printed photo cannot blink, and a sheet turned or bent in front of the camera
does not show the parallax of a head turning (the nose tip moving across the
face against the cheeks); a recorded video can do both, but not in an order
chosen a moment ago. So the kiosk asks for two actions in a random order, one
blink and one head turn to a random side, each after the face held still, and
:class:`Challenge` checks each one as it happens:

- **settle**: a usable, frontal face for ``SETTLE_S``; its eye opening
  (:func:`eye_ratio`) and yaw become the baseline;
- **blink**: the eye ratio drops below ``BLINK_DROP`` of the baseline and
  comes back within ``BLINK_MAX_S``, with the head held (a sheet tilted back
  shortens the eyes, but also the brows above them: the ratio stays);
- **turn**: the yaw read from the five landmarks (the nose tip's offset from
  the eye–mouth midline: parallax, which a flat or bent sheet barely shows)
  and the mesh's yaw both move toward the side asked, by ``TURN_DEG`` and
  ``TURN_MESH_DEG``; turning the other way by ``WRONG_DEG`` fails at once,
  and so does turning before being asked;
- each action within ``ACTION_S`` of its prompt; the face must stay one face
  in one place (no frames without it over ``GAP_S``, no jump of half its width).

:func:`screen_score` is a texture cue: a screen whose pixel grid the camera
resolves shows sharp peaks in the face's spectrum (moiré) that skin does not;
a median over ``SCREEN_SCORE`` refuses. A phone whose pixels are finer than
the camera's passes it: see the README (*Face identity*) for what was measured and
what this does not stop.

The check is pure: observations with their time in, prompts and a verdict out::

    >>> c = Challenge(["blink", "turn_left"])
    >>> c.step(Observation(0.0, yaw=0.0, mesh_yaw=0.0, pitch=0.0, eyes=0.3, box=(100, 100, 190, 250)))
    'look'
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field

import numpy as np

SETTLE_S = 0.8
ACTION_S = 6.0  # time to do what is asked: an elderly customer, a busy box
GAP_S = 1.5  # a slow frame on a busy box is not a gap; a swapped photo also shows as another face
BLINK_DROP = 0.8  # closed: below this share of the open eyes' ratio
BLINK_OPEN = 0.92  # open again: back above this share
BLINK_MAX_S = 0.8
BLINK_HOLD_DEG = 8.0  # the head holds within this while the eyes close
TURN_DEG = 13.0
TURN_MESH_DEG = 9.0
WRONG_DEG = 10.0
EARLY_DEG = 10.0
SCREEN_SCORE = 3.0
ACTIONS = ("blink", "turn_left", "turn_right")
# Sides are the customer's: turning to their own left is a turn toward the picture's right (yaw +).
SIDE = {"turn_left": 1.0, "turn_right": -1.0}


@dataclass(frozen=True)
class Observation:
    """One frame's reading of the single face in view."""

    t: float
    yaw: float  # five-point yaw, degrees (picture's right +)
    mesh_yaw: float  # the face mesh's yaw, degrees
    pitch: float  # five-point pitch, degrees
    eyes: float  # eye_ratio of the mesh
    box: tuple[int, int, int, int]
    screen: float = 0.0  # screen_score


@dataclass(frozen=True)
class Verdict:
    live: bool
    code: (
        str  # "live", or why not: "no_blink", "no_turn", "wrong_turn", "early_turn", "face_lost", "face_jump", "screen"
    )
    reason: str


def random_actions(rng: random.Random | None = None) -> list[str]:
    """One blink and one turn to a random side, in a random order."""
    rng = rng or random.SystemRandom()
    actions = ["blink", rng.choice(["turn_left", "turn_right"])]
    rng.shuffle(actions)
    return actions


def eye_ratio(points: np.ndarray) -> float:
    """The eyelid gap over the brow-to-lower-lid distance, both eyes averaged, from a 468-point mesh.

    Dividing by a vertical length of the same eye region (not the eye's width) keeps it when a sheet is
    tilted back or forward, which shortens the eyes and the brows alike. On the pinned portrait: 0.28
    with the eyes open, 0.18 with the lids drawn shut.
    """
    p = np.asarray(points)[:, :2]
    gaps = [float(np.linalg.norm(p[159] - p[145])), float(np.linalg.norm(p[386] - p[374]))]
    spans = [float(np.linalg.norm(p[105] - p[145])), float(np.linalg.norm(p[334] - p[374]))]
    return float(sum(g / max(s, 1e-6) for g, s in zip(gaps, spans, strict=True)) / 2)


def screen_score(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """How far the sharpest peaks of the inner face's spectrum stand above the spectrum's level at their
    frequency (log10 power): skin and camera noise 1.0–2.2 on the pinned photos; a screen grid the
    camera resolves 3.5 and more."""
    import cv2

    x, y, w, h = box
    x0, y0 = max(0, int(x + 0.15 * w)), max(0, int(y + 0.15 * h))
    x1, y1 = min(image.shape[1], int(x + 0.85 * w)), min(image.shape[0], int(y + 0.85 * h))
    grey = image[y0:y1, x0:x1]
    if grey.ndim == 3:
        grey = cv2.cvtColor(grey, cv2.COLOR_BGR2GRAY)
    n = min(grey.shape[:2])
    if n < 32:
        return 0.0
    crop = grey[:n, :n].astype(np.float32)
    crop -= crop.mean()
    window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    power = np.log10(np.abs(np.fft.fftshift(np.fft.fft2(crop * window))) ** 2 + 1e-6)
    yy, xx = np.mgrid[0:n, 0:n]
    radius = np.hypot(yy - n / 2, xx - n / 2)
    ring = radius.astype(np.int64)
    band = (radius > 0.15 * n) & (radius < 0.48 * n)
    level = np.zeros(int(ring.max()) + 1)
    for r in np.unique(ring[band]):
        level[r] = np.median(power[ring == r])
    residual = (power - level[ring])[band]
    return float(np.percentile(residual, 99.8))


@dataclass
class Challenge:
    """The ordered actions for one session; feed :meth:`step` every frame with a face (``None`` without)."""

    actions: list[str]
    started: float | None = None
    stage: int = -1  # -1 settling; i: doing actions[i]
    prompted: float = 0.0
    base_yaw: float = 0.0
    base_mesh_yaw: float = 0.0
    base_eyes: float = 0.0
    settle: list[Observation] = field(default_factory=list)
    closed_at: float | None = None
    closed_pitch: float = 0.0
    returning: bool = False  # after a turn: back to the camera before the next action is asked
    last: Observation | None = None
    missed: int = 0  # frames without the face since the last with it
    screens: list[float] = field(default_factory=list)
    verdict: Verdict | None = None

    def __post_init__(self) -> None:
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise ValueError(f"unknown action {unknown[0]!r}")

    @property
    def prompt(self) -> str:
        """What the customer is asked to do now: ``look`` (at the camera, still) or the current action."""
        if self.stage < 0 or self.verdict is not None or self.returning:
            return "look"
        return self.actions[self.stage]

    def fail(self, code: str, reason: str) -> str:
        self.verdict = Verdict(False, code, reason)
        return self.prompt

    def missing(self, t: float) -> str:
        """A frame without the face: two or more of them over ``GAP_S`` fail (a photo swapped, the customer
        gone); one slow frame on a busy box does not."""
        self.missed += 1
        if self.verdict is None and self.last is not None and self.missed >= 2 and t - self.last.t > GAP_S:
            return self.fail("face_lost", "the face left the camera during the check")
        return self.prompt

    def step(self, obs: Observation) -> str:
        """Take one frame; return the prompt to show (a new one is the next action)."""
        if self.verdict is not None:
            return self.prompt
        if self.last is not None:
            if self.missed >= 2 and obs.t - self.last.t > GAP_S:
                return self.fail("face_lost", "the face left the camera during the check")
            lx, ly = self.last.box[0] + self.last.box[2] / 2, self.last.box[1] + self.last.box[3] / 2
            cx, cy = obs.box[0] + obs.box[2] / 2, obs.box[1] + obs.box[3] / 2
            if math.hypot(cx - lx, cy - ly) > 0.5 * max(obs.box[2], self.last.box[2]):
                return self.fail("face_jump", "the face jumped from one place to another")
        self.last = obs
        self.missed = 0
        if self.started is None:
            self.started = obs.t
        if abs(obs.yaw - self.base_yaw) < 12:
            self.screens.append(obs.screen)
        if self.stage < 0:
            return self._settle(obs)
        return self._act(obs)

    def _settle(self, obs: Observation) -> str:
        if abs(obs.yaw) > EARLY_DEG * 1.5:
            self.settle.clear()  # look at the camera first
            return self.prompt
        self.settle.append(obs)
        if obs.t - self.settle[0].t < SETTLE_S or len(self.settle) < 4:
            return self.prompt
        self.base_yaw = statistics.median(o.yaw for o in self.settle)
        self.base_mesh_yaw = statistics.median(o.mesh_yaw for o in self.settle)
        self.base_eyes = statistics.median(o.eyes for o in self.settle)
        if statistics.median([o.screen for o in self.settle]) > SCREEN_SCORE:
            return self.fail("screen", "the face is shown on a screen")
        self._next(obs.t)
        return self.prompt

    def _next(self, t: float) -> None:
        self.closed_at = None
        turned = self.stage >= 0 and self.actions[self.stage].startswith("turn_")
        if turned and self.stage + 1 < len(self.actions) and not self.returning:
            self.returning = True  # the next action is asked once the face is back
            self.prompted = t
            return
        self.returning = False
        self.stage += 1
        self.prompted = t
        if self.stage >= len(self.actions):
            if self.screens and statistics.median(self.screens) > SCREEN_SCORE:
                self.verdict = Verdict(False, "screen", "the face is shown on a screen")
            else:
                self.verdict = Verdict(True, "live", "")

    def _act(self, obs: Observation) -> str:
        action = self.actions[self.stage]
        turned = obs.yaw - self.base_yaw
        if self.returning:
            if abs(turned) < EARLY_DEG / 2:
                self._next(obs.t)
            elif obs.t - self.prompted > ACTION_S:
                return self.fail("face_lost", "the face did not come back to the camera")
            return self.prompt
        if action == "blink":
            if abs(turned) > EARLY_DEG:
                return self.fail("early_turn", "the head turned before it was asked to")
            if self.closed_at is None:
                if obs.eyes < BLINK_DROP * self.base_eyes:
                    self.closed_at, self.closed_pitch = obs.t, obs.pitch
            elif obs.eyes >= BLINK_OPEN * self.base_eyes:
                if obs.t - self.closed_at <= BLINK_MAX_S and abs(obs.pitch - self.closed_pitch) <= BLINK_HOLD_DEG:
                    self._next(obs.t)
                    return self.prompt
                self.closed_at = None
        else:
            side = SIDE[action]
            if side * turned < -WRONG_DEG:
                return self.fail("wrong_turn", "the head turned the other way")
            if side * turned >= TURN_DEG and side * (obs.mesh_yaw - self.base_mesh_yaw) >= TURN_MESH_DEG:
                self._next(obs.t)
                return self.prompt
        if obs.t - self.prompted > ACTION_S:
            code = "no_blink" if action == "blink" else "no_turn"
            what = "no blink" if action == "blink" else "no head turn"
            return self.fail(code, f"{what} within {ACTION_S:.0f} s of being asked")
        return self.prompt
