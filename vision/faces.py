"""Faces: detection (res10 SSD through ``cv2.dnn``) and a quality gate (size, blur, pose).

:class:`FaceDetector` returns :class:`Face` boxes ``[x, y, w, h]`` with a
score. :func:`quality` says whether a face is good enough to enrol or to
match: at least ``MIN_FACE`` pixels high, sharp enough (variance of the
Laplacian of the face, scaled to 112 px, at least ``MIN_SHARPNESS``), and
roughly frontal — two eyes found by OpenCV's eye cascade, level within
``MAX_ROLL`` degrees and centred within ``MAX_YAW`` of the face width. The
reason is given when it is not::

    q = quality(image, face)
    if not q.ok:
        print(q.reason)      # "face too small (38 px, need 64)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vision import assets
from vision.errors import ImageError

MIN_FACE = 64
MIN_SHARPNESS = 40.0
MAX_ROLL = 20.0
MAX_YAW = 0.18


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"box": list(self.box), "score": round(self.score, 3)}


@dataclass(frozen=True)
class Quality:
    ok: bool
    reason: str = ""
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
    sharpness: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


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
    """Face boxes by the res10 300×300 SSD; tiles a large picture so small faces are not lost."""

    def __init__(self, threshold: float = 0.5) -> None:
        import cv2

        self.cv2 = cv2
        self.threshold = threshold
        proto = assets.path("deploy.prototxt", fetch=True)
        model = assets.path("res10_300x300_ssd_iter_140000.caffemodel", fetch=True)
        self.net = cv2.dnn.readNetFromCaffe(str(proto), str(model))

    def _run(self, image: np.ndarray, ox: int, oy: int, threshold: float | None = None) -> list[Face]:
        cv2 = self.cv2
        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(image, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        self.net.setInput(blob)
        out = self.net.forward()
        faces = []
        for det in out[0, 0]:
            score = float(det[2])
            if score < (threshold or self.threshold):
                continue
            x1, y1, x2, y2 = (float(v) for v in det[3:7])
            x1, x2 = max(0.0, x1) * w, min(1.0, x2) * w
            y1, y2 = max(0.0, y1) * h, min(1.0, y2) * h
            if x2 - x1 < 8 or y2 - y1 < 8 or not 0.5 <= (x2 - x1) / (y2 - y1) <= 1.3:
                continue  # too small, or not face-shaped
            faces.append(Face((round(x1) + ox, round(y1) + oy, round(x2 - x1), round(y2 - y1)), score))
        return faces

    def detect(self, image: np.ndarray, *, tile: bool = True) -> list[Face]:
        """Faces in a BGR image, best first. A picture over 1280 px is also searched in overlapping
        squares (``tile``), so that small faces in a large photo are not lost; boxes are merged."""
        h, w = image.shape[:2]
        found = self._run(image, 0, 0)
        if tile and max(h, w) > 1280:
            side = max(300, round(max(h, w) / 2.5))
            side = min(h, w, side)
            step = max(1, side * 2 // 3)
            for y in range(0, max(1, h - side + step), step):
                for x in range(0, max(1, w - side + step), step):
                    y0, x0 = min(y, h - side), min(x, w - side)
                    tile_image = image[y0 : y0 + side, x0 : x0 + side]
                    found += self._run(tile_image, x0, y0, max(self.threshold, 0.9))  # tiles see more clutter
        return _suppress(found)

    def detect_in(self, image: np.ndarray, region: tuple[int, int, int, int]) -> list[Face]:
        """Faces inside ``region`` (x, y, w, h) of ``image``, in image coordinates; one pass."""
        x, y, w, h = region
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(image.shape[1], x + w), min(image.shape[0], y + h)
        if x1 - x0 < 16 or y1 - y0 < 16:
            return []
        return _suppress(self._run(image[y0:y1, x0:x1], x0, y0))


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    smaller = min(a[2] * a[3], b[2] * b[3])
    return inter / smaller if smaller else 0.0


def _suppress(faces: list[Face], overlap: float = 0.5) -> list[Face]:
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(_iou(face.box, k.box) < overlap for k in kept):
            kept.append(face)
    return kept


_eye_cascade: Any = None


def _eyes(grey_face: np.ndarray) -> list[tuple[float, float, float]]:
    import cv2

    global _eye_cascade
    if _eye_cascade is None:
        cascade = Path(cv2.__file__).parent / "data" / "haarcascade_eye.xml"  # ships in the opencv wheel
        _eye_cascade = cv2.CascadeClassifier(str(cascade))
    h = grey_face.shape[0]
    upper = grey_face[: int(h * 0.6)]
    found = _eye_cascade.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=4, minSize=(h // 10, h // 10))
    return [(x + ew / 2, y + eh / 2, float(ew)) for x, y, ew, eh in found]


def quality(image: np.ndarray, face: Face) -> Quality:
    """Whether ``face`` is large, sharp and frontal enough; the reason when it is not."""
    import cv2

    x, y, w, h = face.box
    if min(w, h) < MIN_FACE:
        return Quality(False, f"face too small ({min(w, h)} px, need {MIN_FACE})")
    crop = image[max(0, y) : y + h, max(0, x) : x + w]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (112, round(112 * grey.shape[0] / max(1, grey.shape[1]))))
    sharp = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    if sharp < MIN_SHARPNESS:
        return Quality(False, f"face too blurred (sharpness {sharp:.0f}, need {MIN_SHARPNESS:.0f})", sharpness=sharp)
    eyes = _eyes(grey)
    mid = grey.shape[1] / 2
    left = [e for e in eyes if e[0] < mid]
    right = [e for e in eyes if e[0] >= mid]
    if not left or not right:
        return Quality(False, "face not frontal (both eyes not found)", sharpness=sharp)
    le = max(left, key=lambda e: e[2])
    re = max(right, key=lambda e: e[2])
    roll = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
    yaw = ((le[0] + re[0]) / 2 - mid) / grey.shape[1]
    if abs(roll) > MAX_ROLL:
        return Quality(False, f"face tilted ({roll:.0f}°, at most {MAX_ROLL:.0f}°)", sharpness=sharp)
    if abs(yaw) > MAX_YAW:
        return Quality(False, f"face turned aside ({yaw:+.2f} of its width)", sharpness=sharp)
    k = w / grey.shape[1]
    eyes_px = ((x + le[0] * k, y + le[1] * k), (x + re[0] * k, y + re[1] * k))
    return Quality(True, eyes=eyes_px, sharpness=sharp, extra={"roll": roll, "yaw": yaw})
