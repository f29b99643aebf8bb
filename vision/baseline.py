"""Yesterday's face pipeline, kept only to be measured beside today's (``benchmarks/bench_vision.py``).

The res10 SSD face detector through ``cv2.dnn`` (no landmarks) and the quality
gate that looked for both eyes with OpenCV's Haar eye cascade. The hall no
longer uses either: :mod:`vision.faces` finds faces with landmarks (YuNet) and
gates them on the landmarks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from vision import assets
from vision.faces import Face, Quality

MIN_FACE = 64
MIN_SHARPNESS = 40.0
MAX_ROLL = 20.0
MAX_YAW = 0.18


class Res10Detector:
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


def _suppress(faces: list[Face], overlap: float = 0.5) -> list[Face]:
    from vision.faces import overlap_share

    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: -f.score):
        if all(overlap_share(face.box, k.box) < overlap for k in kept):
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


def haar_quality(image: np.ndarray, face: Face) -> Quality:
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
        return Quality(False, f"face too blurred (sharpness {sharp:.0f}, need {MIN_SHARPNESS:.0f})")
    eyes = _eyes(grey)
    mid = grey.shape[1] / 2
    left = [e for e in eyes if e[0] < mid]
    right = [e for e in eyes if e[0] >= mid]
    if not left or not right:
        return Quality(False, "face not frontal (both eyes not found)")
    le = max(left, key=lambda e: e[2])
    re = max(right, key=lambda e: e[2])
    roll = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
    yaw = ((le[0] + re[0]) / 2 - mid) / grey.shape[1]
    if abs(roll) > MAX_ROLL:
        return Quality(False, f"face tilted ({roll:.0f}°, at most {MAX_ROLL:.0f}°)")
    if abs(yaw) > MAX_YAW:
        return Quality(False, f"face turned aside ({yaw:+.2f} of its width)")
    k = w / grey.shape[1]
    eyes_px = ((x + le[0] * k, y + le[1] * k), (x + re[0] * k, y + re[1] * k))
    return Quality(True, landmarks=eyes_px)
