"""Running a kiosk face session offline over a composed scene (vision.synth), at the camera's frame rate.

The scene hears each prompt the kiosk would show (``scene.ask``) the moment it
is given, as a customer in front of the screen would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vision.capture import Capture, Captured


class Models:
    """The networks of a kiosk session, loaded once per test module."""

    def __init__(self) -> None:
        from vision.embed import FaceEncoder
        from vision.facemesh import FaceMesh

        encoder = FaceEncoder()
        self.encoder = encoder
        self.detector, self.embedder, self.mesher = encoder.detector, encoder.embedder, FaceMesh()


def run_capture(
    models: Models, scene: Any, actions: list[str], *, fps: float = 10.0, timeout_s: float = 20.0
) -> tuple[Captured, list[str]]:
    """The capture's result and the prompts shown, in order."""
    capture = Capture(actions, started=0.0, timeout_s=timeout_s, models=models)
    prompts = ["look"]
    t = 0.0
    while capture.result is None:
        prompt = capture.step(scene.frame(t), t)
        if prompt is not None:
            prompts.append(prompt)
            scene.ask(prompt, t)
        t += 1.0 / fps
    return capture.result, prompts


def run_steps(step: Any, scene: Any, start: float, *, fps: float = 10.0, limit_s: float = 25.0) -> list[Any]:
    """Feed ``step(frame, t)`` (a KioskFaces or FaceStage) until it answers; the facts, prompts passed on."""
    facts: list[Any] = []
    t = start
    while t < start + limit_s:
        got = step(scene.frame(t), t)
        for fact in got:
            if fact.topic == "face.progress":
                scene.ask(fact.data["step"], t)
        facts += got
        if any(f.topic in ("face.candidate", "face.abstained", "face.enrolled", "face.enroll_failed") for f in got):
            break
        t += 1.0 / fps
    return facts


class Still:
    """A photo held perfectly still in front of the camera (camera noise only)."""

    def __init__(self, image: np.ndarray, seed: int = 0) -> None:
        self.image = image
        self.rng = np.random.default_rng(seed)

    def ask(self, action: str, t: float) -> None:
        pass

    def frame(self, t: float) -> np.ndarray:
        from vision.synth import noisy

        return noisy(self.image, self.rng)


class Two:
    """Two customers side by side (each half of the frame a portrait of its own)."""

    def __init__(self, left: Any, right: Any) -> None:
        self.left, self.right = left, right

    def ask(self, action: str, t: float) -> None:
        self.left.ask(action, t)

    def frame(self, t: float) -> np.ndarray:
        import cv2

        a, b = self.left.frame(t), self.right.frame(t)
        half = (a.shape[1] // 2, a.shape[0] // 2)
        out = np.full_like(a, 90)
        out[a.shape[0] // 4 : a.shape[0] // 4 + half[1], : half[0]] = cv2.resize(a, half)
        out[a.shape[0] // 4 : a.shape[0] // 4 + half[1], half[0] :] = cv2.resize(b, half)
        return out
