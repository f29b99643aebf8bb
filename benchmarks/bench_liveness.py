"""Liveness at the kiosk camera: how often live customers pass and attacks are refused, on composed pictures.

    .venv/bin/python benchmarks/bench_liveness.py [--sessions N]

Every scene is composed by ``vision/synth.py`` from the pinned portraits (obama.jpg, biden.jpg): a
customer who does what is asked, a photo held still, a printed sheet moved by hand (flat, and bent
and tilted 45° toward or against the side asked), a recording on a screen doing its own moves, and a
recording played by hand to follow the prompts on a fine screen (pixels 1.1 camera px) and a coarse
one (1.6 px). Each session runs at 10 frames a second through the real detector, mesh and embedder.

The baseline, measured in the same run on the same frames, is the passive cue the camera had before
the challenge (``vision.facemesh.LivenessCue``: a blink or 8° of head movement within the session).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _scenes(portraits: dict[str, Any], seed: int) -> dict[str, Any]:
    from tests.vision.scenes import Still
    from vision.synth import Person, PrintedSheet, ScreenReplay

    face = portraits["obama" if seed % 2 else "biden"]
    return {
        "live customer": Person(face, seed=seed),
        "photo held still": Still(face.image, seed=seed),
        "sheet, flat": PrintedSheet(face, seed=seed),
        "sheet, bent, tilted with": PrintedSheet(face, seed=seed, bend=1.0, tilt_deg=45),
        "sheet, bent, tilted against": PrintedSheet(face, seed=seed, bend=1.0, tilt_deg=-45),
        "replay, own moves": ScreenReplay(face, pitch_px=1.1, seed=seed),
        "replay by hand, fine screen": ScreenReplay(face, pitch_px=1.1, seed=seed, follow=True),
        "replay by hand, coarse screen": ScreenReplay(face, pitch_px=1.6, seed=seed, follow=True),
    }


class Passive:
    """Yesterday's cue over the session's frames: a blink, or 8° of head movement."""

    def __init__(self) -> None:
        from vision.facemesh import LivenessCue

        self.cue = LivenessCue(window_s=60.0)

    def add(self, t: float, mesh: Any) -> None:
        self.cue.add(t, mesh)

    def live(self) -> bool:
        s = self.cue.summary()
        return bool(s["blinks"] > 0 or s["yaw_range"] >= 8.0)


def session(models: Any, scene: Any, actions: list[str]) -> tuple[bool, bool, str, int, float]:
    """The challenge's verdict, the passive cue's on the same frames, why, frames, ms a frame."""
    from vision.capture import Capture

    capture = Capture(actions, started=0.0, timeout_s=20.0, models=models)
    passive = Passive()
    mesher = models.mesher
    t, frames, spent = 0.0, 0, 0.0
    while capture.result is None:
        frame = scene.frame(t)
        t0 = time.perf_counter()
        prompt = capture.step(frame, t)
        spent += time.perf_counter() - t0
        faces = models.detector.detect(frame)
        if faces:
            passive.add(t, mesher.mesh(frame, faces[0].landmarks))
        if prompt is not None:
            scene.ask(prompt, t)
        frames += 1
        t += 0.1
    r = capture.result
    return r.ok, passive.live(), r.code if r.ok else r.reason, frames, spent / frames * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=6, help="sessions per scene (default 6)")
    args = parser.parse_args()
    from tests.vision.scenes import Models
    from vision.liveness import random_actions
    from vision.synth import Portrait

    models = Models()
    portraits = {"obama": Portrait("obama.jpg"), "biden": Portrait("biden.jpg")}
    rng = random.Random(2026)
    rows: dict[str, list[tuple[bool, bool, str, int, float]]] = {}
    for i in range(args.sessions):
        for name, scene in _scenes(portraits, i + 1).items():
            rows.setdefault(name, []).append(session(models, scene, random_actions(rng)))
    print(f"{'scene':<32} {'challenge: live':>16} {'passive cue: live':>18}  frames  ms/frame  reasons refused")
    for name, results in rows.items():
        n = len(results)
        passed = sum(r[0] for r in results)
        passive = sum(r[1] for r in results)
        frames = sum(r[3] for r in results) / n
        ms = sum(r[4] for r in results) / n
        reasons = sorted({r[2].split(" within")[0] for r in results if not r[0]})
        print(f"{name:<32} {passed:>9}/{n:<6} {passive:>11}/{n:<6} {frames:>6.0f} {ms:>8.1f}  {'; '.join(reasons)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
