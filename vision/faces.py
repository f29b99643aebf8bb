"""Faces: detection with five landmarks (YuNet), alignment, and a quality gate read from the landmarks.

:class:`FaceDetector` runs YuNet (libfacedetection, through ``yuface``, whose
weights are compiled into the wheel) on the whole picture, scaled down to at
most ``max_side`` pixels, so a face is found wherever the camera's resolution
makes it usable, not only inside tall person boxes. Each :class:`Face` has a
box ``(x, y, w, h)``, a score in [0, 1] and five landmarks in picture pixels,
in the order of the ArcFace template: the eye on the picture's left, the eye
on its right, the nose tip, the mouth corner on the left, the one on the
right.

:func:`head_pose` estimates yaw, pitch and roll in degrees from the five
points alone (closed forms, see its docstring); :func:`quality` refuses a
face that is cut off by the picture's edge, too small, turned or tilted, blurred, or covered (a mask),
and says why::

    q = quality(image, face)
    if not q.ok:
        print(q.reason)      # "face turned aside (yaw +41°, at most 30°)"

:func:`align` warps a face onto the 112×112 ArcFace template by the
similarity transform that best fits its five points; embeddings
(:mod:`vision.embed`) and expressions read that chip. For eye openness, blinks
and a head pose from 468 points, see :mod:`vision.facemesh`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vision.errors import ImageError

Point = tuple[float, float]

MIN_FACE = 64  # px: the smaller side of a usable face box
MIN_EYES = 24.0  # px between the eye centres of a usable face (the template has 35 at 112 px)
MIN_SHARPNESS = 40.0  # variance of the Laplacian of the aligned 112 px chip
MAX_YAW = 30.0
MAX_PITCH = 25.0
MAX_ROLL = 20.0
# A covered lower face (a mask): the chin and lower cheeks of the aligned chip against the forehead, in
# CIELAB. On the bare pinned faces the lower face is 2–67 darker with a colour difference up to 38; a mask
# is lighter, far darker, or of another colour (see vision/MODELS.md for the measurement).
COVER_LIGHTER = 3.0
COVER_DARKER = 110.0
COVER_COLOUR = 42.0

# ArcFace's 112×112 template: left eye, right eye, nose tip, left and right mouth corners (picture sides).
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
# Face proportions behind head_pose: nose tip depth in front of the eyes, over the eye distance, and the
# eye-to-mouth height over that depth (the template's proportions with a 32 mm nose depth on 63 mm eyes).
NOSE_DEPTH = 0.51
FACE_HEIGHT = 2.28
NOSE_HEIGHT = 0.55  # where YuNet puts the nose tip between the eye line (0) and the mouth line (1), frontal


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    score: float
    landmarks: tuple[Point, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": list(self.box), "score": round(self.score, 3)}
        if self.landmarks:
            out["landmarks"] = [[round(x, 1), round(y, 1)] for x, y in self.landmarks]
        return out


@dataclass(frozen=True)
class Pose:
    yaw: float  # degrees, + when the face turns toward the picture's right
    pitch: float  # degrees, + when the face looks down
    roll: float  # degrees, + when the eye line slopes down to the picture's right


@dataclass(frozen=True)
class Quality:
    ok: bool
    reason: str = ""
    landmarks: tuple[Point, ...] | None = None
    pose: Pose | None = None
    sharpness: float = 0.0

    @property
    def eyes(self) -> tuple[Point, Point] | None:
        return (self.landmarks[0], self.landmarks[1]) if self.landmarks else None


def read_image(path: str | Path) -> np.ndarray:
    """A BGR image from a file; :class:`ImageError` naming the file otherwise."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such image file")
    image = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{p}: not a readable image")
    return np.asarray(image)


class FaceDetector:
    """Faces with five landmarks by YuNet, best first; pictures over ``max_side`` px are scaled down."""

    def __init__(self, threshold: float = 0.6, *, max_side: int = 960) -> None:
        os.environ.setdefault("OMP_NUM_THREADS", "1")  # libfacedetection's OpenMP: one core per camera
        import yuface

        self._detect = yuface.detect
        self.threshold = threshold
        self.max_side = max_side

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in a BGR picture, in its own pixels."""
        import cv2

        if image.ndim != 3 or image.shape[2] != 3:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image[..., :3]
        h, w = image.shape[:2]
        k = min(1.0, self.max_side / max(h, w))
        small = image if k == 1.0 else cv2.resize(image, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
        scores, boxes, points = self._detect(np.ascontiguousarray(small), conf=self.threshold)
        faces = []
        for score, box, pts in zip(scores.tolist(), boxes.tolist(), points.tolist(), strict=True):
            x, y, bw, bh = (float(v) / k for v in box)
            x0, y0 = max(0.0, x), max(0.0, y)
            x1, y1 = min(float(w), x + bw), min(float(h), y + bh)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            marks = tuple((float(pts[2 * i]) / k, float(pts[2 * i + 1]) / k) for i in range(5))
            faces.append(Face((round(x0), round(y0), round(x1 - x0), round(y1 - y0)), score / 100.0, marks))
        return _suppress(faces)

    def detect_in(self, image: np.ndarray, region: tuple[int, int, int, int]) -> list[Face]:
        """Faces inside ``region`` (x, y, w, h) of ``image``, in image coordinates."""
        x, y, w, h = region
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(image.shape[1], x + w), min(image.shape[0], y + h)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        out = []
        for f in self.detect(image[y0:y1, x0:x1]):
            bx, by, bw, bh = f.box
            marks = tuple((px + x0, py + y0) for px, py in f.landmarks)
            out.append(Face((bx + x0, by + y0, bw, bh), f.score, marks))
        return out


def overlap_share(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """The overlap of two boxes as a share of the smaller one."""
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    smaller = min(a[2] * a[3], b[2] * b[3])
    return iw * ih / smaller if smaller else 0.0


def _suppress(faces: list[Face], overlap: float = 0.5) -> list[Face]:
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(overlap_share(face.box, k.box) < overlap for k in kept):
            kept.append(face)
    return kept


def head_pose(landmarks: Sequence[Point]) -> Pose:
    """Yaw, pitch and roll in degrees from the five landmarks.

    Roll is the slope of the eye line. After undoing it, the nose tip (``NOSE_DEPTH`` eye distances in
    front of the eyes) shifts sideways by ``depth · sin(yaw)`` from the midline of the eyes and mouth
    while the eye distance shrinks by ``cos(yaw)``, so ``yaw = atan(offset / eyes / NOSE_DEPTH)``; it
    moves up or down between the eye and mouth lines the same way with pitch, from ``NOSE_HEIGHT``
    when frontal (YuNet puts the nose tip a little lower than the ArcFace template does, so the
    template itself reads as looking slightly up)::

        >>> p = head_pose([tuple(v) for v in TEMPLATE.tolist()])
        >>> round(p.yaw), round(p.pitch), round(p.roll)
        (0, -7, 0)
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    le, re, nose, lm, rm = pts
    dx, dy = re - le
    roll = math.degrees(math.atan2(dy, dx))
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    le, re, nose, lm, rm = (rot @ p for p in (le, re, nose, lm, rm))
    eyes = max(float(np.hypot(*(re - le))), 1e-6)
    eye_mid, mouth_mid = (le + re) / 2, (lm + rm) / 2
    mid_x = (eye_mid[0] + mouth_mid[0]) / 2
    yaw = math.degrees(math.atan((nose[0] - mid_x) / eyes / NOSE_DEPTH))
    height = max(float(mouth_mid[1] - eye_mid[1]), 1e-6)
    where = (nose[1] - eye_mid[1]) / height
    pitch = math.degrees(math.atan((where - NOSE_HEIGHT) * FACE_HEIGHT))
    return Pose(yaw, pitch, roll)


def similarity(landmarks: Sequence[Point], template: np.ndarray = TEMPLATE, size: int = 112) -> np.ndarray:
    """The 2×3 similarity transform (rotation, uniform scale, shift) taking the landmarks onto the template
    by least squares (Umeyama); with two points, the eyes alone."""
    src = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    dst = template[: len(src)] * (size / 112.0)
    sm, dm = src.mean(axis=0), dst.mean(axis=0)
    sc, dc = src - sm, dst - dm
    cov = dc.T @ sc / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (sc**2).sum() / len(src)
    scale = float(np.trace(np.diag(d) @ sign) / max(var, 1e-12))
    m = np.hstack([scale * rot, (dm - scale * rot @ sm)[:, None]])
    return m


def align(image: np.ndarray, landmarks: Sequence[Point], size: int = 112) -> np.ndarray:
    """The ``size``×``size`` face chip on the ArcFace template (five points; two eyes also work)."""
    import cv2

    m = similarity(landmarks, size=size)
    chip = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(chip)


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned chip (grey): low when blurred or flat."""
    import cv2

    grey = cv2.cvtColor(chip, cv2.COLOR_BGR2GRAY) if chip.ndim == 3 else chip
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def covered(chip: np.ndarray) -> str:
    """Why the lower face of an aligned chip looks covered, or "" when it looks bare."""
    import cv2

    lab = cv2.cvtColor(chip, cv2.COLOR_BGR2LAB).astype(np.float32)
    forehead = lab[26:40, 44:68].reshape(-1, 3)
    lower = np.concatenate(
        [lab[98:110, 40:72].reshape(-1, 3), lab[78:92, 22:34].reshape(-1, 3), lab[78:92, 78:90].reshape(-1, 3)]
    )
    up, low = np.median(forehead, axis=0), np.median(lower, axis=0)
    lighter = float(low[0] - up[0])
    colour = float(np.hypot(low[1] - up[1], low[2] - up[2]))
    if lighter > COVER_LIGHTER:
        return "lower face lighter than the forehead"
    if -lighter > COVER_DARKER:
        return "lower face far darker than the forehead"
    if colour > COVER_COLOUR:
        return "lower face of another colour than the forehead"
    return ""


def quality(image: np.ndarray, face: Face) -> Quality:
    """Whether ``face`` is large, frontal, sharp and uncovered enough to enrol or match; why not, if not."""
    x, y, w, h = face.box
    if len(face.landmarks) != 5:
        return Quality(False, "face has no landmarks")
    marks = face.landmarks
    ih, iw = image.shape[:2]
    if x <= 0 or y <= 0 or x + w >= iw or y + h >= ih:
        return Quality(False, "face cut off at the picture's edge", marks)
    if min(w, h) < MIN_FACE:
        return Quality(False, f"face too small ({min(w, h)} px, need {MIN_FACE})", marks)
    eyes = math.dist(marks[0], marks[1])
    if eyes < MIN_EYES:
        return Quality(False, f"face too small ({eyes:.0f} px between the eyes, need {MIN_EYES:.0f})", marks)
    pose = head_pose(marks)
    if abs(pose.roll) > MAX_ROLL:
        return Quality(False, f"face tilted ({pose.roll:+.0f}°, at most {MAX_ROLL:.0f}°)", marks, pose)
    if abs(pose.yaw) > MAX_YAW:
        return Quality(False, f"face turned aside (yaw {pose.yaw:+.0f}°, at most {MAX_YAW:.0f}°)", marks, pose)
    if abs(pose.pitch) > MAX_PITCH:
        return Quality(
            False, f"face turned up or down (pitch {pose.pitch:+.0f}°, at most {MAX_PITCH:.0f}°)", marks, pose
        )
    chip = align(image, marks)
    sharp = sharpness(chip)
    if sharp < MIN_SHARPNESS:
        reason = f"face too blurred (sharpness {sharp:.0f}, need {MIN_SHARPNESS:.0f})"
        return Quality(False, reason, marks, pose, sharp)
    cover = covered(chip)
    if cover:
        return Quality(False, f"face partly covered ({cover})", marks, pose, sharp)
    return Quality(True, "", marks, pose, sharp)
