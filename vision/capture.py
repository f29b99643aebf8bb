"""One customer's face at the kiosk camera: one person, alive, the same face throughout, captured.

A :class:`Capture` is fed every frame of the kiosk's camera while a customer
takes a ticket by face or enrols. Each frame it finds the faces; the largest
must be the only one (another face at least half its size, or a second usable
face, for ``SEVERAL_FRAMES`` frames ends the capture: a group photo, or someone
at the customer's shoulder). The face's five landmarks and mesh feed the
:class:`~vision.liveness.Challenge`, whose prompts go to the kiosk. Frontal
frames that pass the quality gate (:func:`vision.faces.quality`) with the eyes
open are embedded, at most every ``CAPTURE_EVERY_S``: some before the first
action, at least one after the last. When the challenge is met, every
embedding must agree with their mean (``SAME_THRESHOLD``): a photo swapped in
mid-way shows as a different face. The result is a :class:`Captured`, good or
with the code and sentence that say why not (codes of
:data:`edge.schemas.faces.AbstainCode`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.embed import SAME_THRESHOLD
from vision.liveness import Challenge, Observation, eye_ratio, screen_score

SEVERAL_FRAMES = 3
CAPTURE_EVERY_S = 0.15
BEFORE = 2  # embeddings kept before the first action
AFTER_WAIT_S = 4.0  # after the last action, how long to wait for a frontal frame (read, turn back)
MIN_FACE = 64


@dataclass(frozen=True)
class Captured:
    ok: bool
    code: str = ""
    reason: str = ""
    vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 192), np.float32))

    @property
    def mean(self) -> np.ndarray:
        v = self.vectors.mean(axis=0)
        return np.asarray(v / max(float(np.linalg.norm(v)), 1e-9), dtype=np.float32)


class Capture:
    """The frames of one session, until :attr:`result` is set (then ignore further frames)."""

    def __init__(self, actions: list[str], *, started: float, timeout_s: float, models: Any) -> None:
        self.challenge = Challenge(list(actions))
        self.models = models  # .detector, .embedder, .mesher
        self.started = started
        self.deadline = started + timeout_s
        self.prompt = "look"
        self.several = 0
        self.why_unusable = "no face in front of the camera"
        self.before: list[np.ndarray] = []
        self.after: list[np.ndarray] = []
        self.last_capture = -1e9
        self.live_at: float | None = None
        self.result: Captured | None = None

    def step(self, frame: np.ndarray, t: float) -> str | None:
        """Take one frame; return the new prompt when it changed (``look``, ``blink``, ``turn_left``…)."""
        if self.result is not None:
            return None
        before = self.prompt
        self._frame(frame, t)
        if self.result is None and t >= self.deadline:
            self._end(False, "timeout", f"no decision in time: {self.why_unusable}")
        now = self.challenge.prompt
        if now != before and self.result is None:
            self.prompt = now
            return now
        return None

    def _end(self, ok: bool, code: str, reason: str) -> None:
        vectors = np.stack(self.before + self.after) if self.before or self.after else np.zeros((0, 192), np.float32)
        self.result = Captured(ok, code, reason, np.asarray(vectors, np.float32))

    def _frame(self, frame: np.ndarray, t: float) -> None:
        from vision.faces import head_pose, quality

        faces = sorted(self.models.detector.detect(frame), key=lambda f: -f.box[2] * f.box[3])
        faces = [f for f in faces if len(f.landmarks) == 5]
        if not faces:
            self.challenge.missing(t)
            self._check_challenge(t)
            return
        main = faces[0]
        area = main.box[2] * main.box[3]
        crowd = [f for f in faces[1:] if f.box[2] * f.box[3] >= 0.5 * area or quality(frame, f).ok]
        self.several = self.several + 1 if crowd else 0
        if self.several >= SEVERAL_FRAMES:
            self._end(False, "several_faces", "more than one face in front of the camera")
            return
        if min(main.box[2:]) < MIN_FACE:
            self.why_unusable = f"the face is too small ({min(main.box[2:])} px); come closer"
            self.challenge.missing(t)
            self._check_challenge(t)
            return
        mesh = self.models.mesher.mesh(frame, main.landmarks)
        pose = head_pose(main.landmarks)
        obs = Observation(
            t,
            yaw=pose.yaw,
            mesh_yaw=mesh.pose().yaw,
            pitch=pose.pitch,
            eyes=eye_ratio(mesh.points),
            box=main.box,
            screen=screen_score(frame, main.box),
        )
        self.challenge.step(obs)
        self._maybe_embed(frame, main, obs)
        self._check_challenge(t)

    def _maybe_embed(self, frame: np.ndarray, face: Any, obs: Observation) -> None:
        from vision.faces import align, quality

        c = self.challenge
        # frontal: near the settled yaw, or while settling near where the face looks (a face that looks a
        # little aside in every photo is frontal for itself)
        if obs.t - self.last_capture < CAPTURE_EVERY_S:
            return
        if (c.stage >= 0 or c.verdict is not None) and abs(obs.yaw - c.base_yaw) > 10:
            return
        if c.base_eyes and obs.eyes < 0.9 * c.base_eyes:
            return  # eyes closing: not a capture
        live = c.verdict is not None and c.verdict.live
        if not live and (c.stage >= 0 or c.verdict is not None or len(self.before) >= BEFORE):
            return  # before the first action, and after the last: never while acting
        q = quality(frame, face)
        if not q.ok:
            self.why_unusable = q.reason
            return
        vec = self.models.embedder.embed([align(frame, face.landmarks)])[0]
        self.last_capture = obs.t
        (self.after if live else self.before).append(vec)

    def _check_challenge(self, t: float) -> None:
        v = self.challenge.verdict
        if v is None or self.result is not None:
            return
        if not v.live:
            self._end(False, "liveness", v.reason)
            return
        if self.live_at is None:
            self.live_at = t
        if not self.after and t - self.live_at < AFTER_WAIT_S:
            return  # wait for a frontal frame after the last action
        if not self.before or not self.after:
            self._end(False, "quality", f"no clear frontal view of the face ({self.why_unusable})")
            return
        vectors = np.stack(self.before + self.after)
        mean = vectors.mean(axis=0)
        mean /= max(float(np.linalg.norm(mean)), 1e-9)
        worst = float((vectors @ mean).min())
        if worst < SAME_THRESHOLD:
            self._end(False, "changed", f"the face changed during the check (similarity {worst:.2f})")
            return
        self._end(True, "live", "")
