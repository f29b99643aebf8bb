"""People: foreground blobs, tracks with stable ids, and line crossings.

:class:`BlobDetector` finds moving people with an adaptive background model
(OpenCV MOG2, shadows dropped) on a frame scaled to ``width`` pixels; a blob
much wider than a person is split into side-by-side boxes. :class:`Tracker`
keeps one :class:`Track` per person: a detection joins the nearest track whose
feet point is close enough, a track is *confirmed* after ``min_hits`` matched
frames and dropped after ``max_missed`` frames without one, so a box that
flickers for a frame or two keeps its id. :class:`LineCounter` counts a
confirmed track once each time its feet point moves from one side of the line
to the other, beyond a dead band that absorbs jitter on the line itself.

Boxes are ``(x, y, w, h)`` in the pixels of the frame given to the detector.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vision.geometry import Line, Point

Box = tuple[int, int, int, int]
WARM_UP = 30  # frames before the background model's "nothing moves" is believed


def feet(box: Box) -> Point:
    """The bottom centre of a box: where the person stands."""
    x, y, w, h = box
    return (x + w / 2.0, float(y + h))


def centre(box: Box) -> Point:
    x, y, w, h = box
    return (x + w / 2.0, y + h / 2.0)


class BlobDetector:
    """Moving-person boxes from background subtraction (needs a few seconds of frames to learn).

    ``min_height`` is the smallest person, as a fraction of the frame height;
    ``aspect`` the usual width/height of one standing person.
    """

    def __init__(
        self,
        *,
        width: int = 384,
        history: int = 300,
        min_height: float = 0.06,
        aspect: float = 0.42,
        learning_rate: float = -1.0,
    ) -> None:
        import cv2

        self.cv2 = cv2
        self.width = width
        self.min_height = min_height
        self.aspect = aspect
        self.learning_rate = learning_rate
        self.subtractor = cv2.createBackgroundSubtractorMOG2(history=history, varThreshold=25, detectShadows=True)
        self.kernel_open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self.kernel_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 9))
        self.frames = 0

    @property
    def learning(self) -> bool:
        """True for the first frames, while the background model cannot yet tell what moves."""
        return self.frames < WARM_UP

    def moving(self, frame: np.ndarray) -> bool:
        """The motion gate: anything person-sized moving in ``frame`` (always True while learning)."""
        return bool(self.detect(frame)) or self.learning

    def detect(self, frame: np.ndarray) -> list[Box]:
        """Boxes of moving people in ``frame`` (BGR or grey), in the frame's own pixels."""
        cv2 = self.cv2
        self.frames += 1
        h0, w0 = frame.shape[:2]
        scale = self.width / w0 if w0 > self.width else 1.0
        small = cv2.resize(frame, (round(w0 * scale), round(h0 * scale)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        mask = self.subtractor.apply(small, learningRate=self.learning_rate)
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)  # 127 = shadow
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel_open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.kernel_close)
        mask = cv2.dilate(mask, self.kernel_open, iterations=1)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        min_h = self.min_height * small.shape[0]
        boxes: list[Box] = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            if h < min_h or cv2.contourArea(c) < 0.15 * min_h * min_h:
                continue
            boxes += [_rescale(b, 1.0 / scale) for b in self.split(x, y, w, h)]
        return boxes

    def split(self, x: int, y: int, w: int, h: int) -> list[Box]:
        """A blob at least 1.8 people wide becomes that many side-by-side boxes."""
        n = round(w / (self.aspect * h)) if w >= 1.8 * self.aspect * h else 1
        n = max(1, min(n, 4))
        step = w / n
        return [(int(x + i * step), y, int(step), h) for i in range(n)]


def _rescale(box: Box, k: float) -> Box:
    return (round(box[0] * k), round(box[1] * k), round(box[2] * k), round(box[3] * k))


@dataclass
class Track:
    id: int
    box: Box
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    first_seen: float = 0.0
    last_seen: float = 0.0
    velocity: Point = (0.0, 0.0)
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def feet(self) -> Point:
        return feet(self.box)

    def predicted(self) -> Point:
        fx, fy = self.feet
        k = 1 + self.missed
        return (fx + self.velocity[0] * k, fy + self.velocity[1] * k)


class Tracker:
    """Greedy nearest-feet matching with gating; ids are never reused within one tracker."""

    def __init__(self, *, min_hits: int = 3, max_missed: int = 8, gate: float = 0.6) -> None:
        self.min_hits = min_hits
        self.max_missed = max_missed
        self.gate = gate  # largest jump per frame, as a fraction of the box height
        self.tracks: list[Track] = []
        self.ended: list[Track] = []
        self._next = 1

    def update(self, boxes: Iterable[Box], t: float = 0.0) -> list[Track]:
        """Match this frame's boxes; return the live tracks. Tracks that ended go to ``ended``."""
        dets = list(boxes)
        pairs = []
        for ti, track in enumerate(self.tracks):
            px, py = track.predicted()
            limit = self.gate * track.box[3] * (1 + track.missed)
            for di, box in enumerate(dets):
                fx, fy = feet(box)
                d = float(np.hypot(fx - px, fy - py))
                if d <= limit and 0.5 <= box[3] / max(track.box[3], 1) <= 2.0:
                    pairs.append((d, ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            track = self.tracks[ti]
            old = track.feet
            track.box = dets[di]
            new = track.feet
            steps = 1 + track.missed
            v = ((new[0] - old[0]) / steps, (new[1] - old[1]) / steps)
            track.velocity = (0.5 * track.velocity[0] + 0.5 * v[0], 0.5 * track.velocity[1] + 0.5 * v[1])
            track.hits += 1
            track.missed = 0
            track.last_seen = t
            if track.hits >= self.min_hits:
                track.confirmed = True
        self.ended = []
        alive = []
        for ti, track in enumerate(self.tracks):
            if ti not in used_t:
                track.missed += 1
            if track.missed > self.max_missed:
                self.ended.append(track)
            else:
                alive.append(track)
        for di, box in enumerate(dets):
            if di not in used_d:
                alive.append(Track(self._next, box, first_seen=t, last_seen=t))
                self._next += 1
        self.tracks = alive
        return alive

    def confirmed(self) -> list[Track]:
        """Confirmed tracks seen in this frame or only briefly lost."""
        return [t for t in self.tracks if t.confirmed]


@dataclass(frozen=True)
class Crossing:
    track: int
    direction: str  # "in" | "out"
    t: float


class LineCounter:
    """In/out counts of confirmed tracks across ``line``; ``margin`` pixels either side is a dead band."""

    def __init__(self, line: Line, margin: float = 8.0) -> None:
        self.line = line
        self.margin = margin
        self.counts = {"in": 0, "out": 0}

    def update(self, tracks: Iterable[Track], t: float = 0.0) -> list[Crossing]:
        """Crossings in this frame. A track's side is remembered from its first frame, confirmed or not."""
        out: list[Crossing] = []
        for track in tracks:
            if track.missed:
                continue
            side = self.line.side(track.feet, self.margin)
            if side == 0:
                continue
            last = track.memo.setdefault("side", side)
            if not track.confirmed or side == last:
                continue
            direction = "in" if side > 0 else "out"
            self.counts[direction] += 1
            out.append(Crossing(track.id, direction, t))
            track.memo["side"] = side
        return out
