"""Plane geometry for counting lines, zone polygons and the floor-plan homography.

Image coordinates are pixels with y growing downward. A counting line runs
from ``(x1, y1)`` to ``(x2, y2)``; a point is on its *in* side when the cross
product ``(P2 − P1) × (p − P1)`` is positive — for a line drawn from top to
bottom, that is the left of the picture::

    >>> line = Line(600, 0, 600, 576)
    >>> line.side((500, 300)), line.side((700, 300))
    (1, -1)
    >>> Polygon([(0, 0), (10, 0), (10, 10), (0, 10)]).contains((5, 5))
    True
    >>> h = Homography([(0, 0), (100, 0), (100, 100), (0, 100)], [(0, 0), (50, 0), (50, 50), (0, 50)])
    >>> [round(v, 3) for v in h.map((50, 50))]
    [25.0, 25.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def parse(cls, text: str) -> Line:
        """``"X1,Y1,X2,Y2"`` → a line; ValueError naming the problem otherwise."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise ValueError(f"a line is X1,Y1,X2,Y2 (four numbers), not {text!r}")
        try:
            x1, y1, x2, y2 = (float(p) for p in parts)
        except ValueError as exc:
            raise ValueError(f"a line is X1,Y1,X2,Y2 (four numbers), not {text!r}") from exc
        if (x1, y1) == (x2, y2):
            raise ValueError("a line needs two distinct end points")
        return cls(x1, y1, x2, y2)

    @property
    def length(self) -> float:
        return math.hypot(self.x2 - self.x1, self.y2 - self.y1)

    def distance(self, p: Point) -> float:
        """Signed distance of ``p`` from the infinite line; positive on the *in* side."""
        dx, dy = self.x2 - self.x1, self.y2 - self.y1
        return (dx * (p[1] - self.y1) - dy * (p[0] - self.x1)) / self.length

    def along(self, p: Point) -> float:
        """Where ``p`` projects onto the segment: 0 at P1, 1 at P2."""
        dx, dy = self.x2 - self.x1, self.y2 - self.y1
        return ((p[0] - self.x1) * dx + (p[1] - self.y1) * dy) / (self.length**2)

    def side(self, p: Point, margin: float = 0.0) -> int:
        """+1 (in side), -1 (out side), or 0 within ``margin`` pixels of the line or beyond its ends."""
        t = self.along(p)
        if t < 0.0 or t > 1.0:
            return 0
        d = self.distance(p)
        if d > margin:
            return 1
        if d < -margin:
            return -1
        return 0

    def scaled(self, sx: float, sy: float) -> Line:
        return Line(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)


class Polygon:
    """A simple polygon in image coordinates (at least three vertices)."""

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        if len(points) < 3:
            raise ValueError("a polygon needs at least three points")
        self.points: list[Point] = [(float(p[0]), float(p[1])) for p in points]

    def contains(self, p: Point) -> bool:
        """Even-odd rule; points on an edge may fall either way."""
        x, y = p
        inside = False
        n = len(self.points)
        for i in range(n):
            x1, y1 = self.points[i]
            x2, y2 = self.points[(i + 1) % n]
            if (y1 > y) != (y2 > y):
                xc = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
                if x < xc:
                    inside = not inside
        return inside


class Homography:
    """Maps image points to floor-plan points, from four point pairs (no three collinear)."""

    def __init__(self, image: Sequence[Sequence[float]], floor: Sequence[Sequence[float]]) -> None:
        if len(image) != 4 or len(floor) != 4:
            raise ValueError("a homography needs exactly four image points and four floor points")
        src = np.asarray(image, dtype=np.float64)
        dst = np.asarray(floor, dtype=np.float64)
        rows = []
        rhs = []
        for (x, y), (u, v) in zip(src, dst, strict=True):
            rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
            rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
            rhs += [u, v]
        a = np.asarray(rows)
        if abs(np.linalg.det(a)) < 1e-9:
            raise ValueError("the four point pairs are degenerate (three of them on one line?)")
        h = np.linalg.solve(a, np.asarray(rhs))
        self.matrix = np.append(h, 1.0).reshape(3, 3)

    def map(self, p: Point) -> Point:
        x, y, w = self.matrix @ np.array([p[0], p[1], 1.0])
        return (float(x / w), float(y / w))

    def map_many(self, points: np.ndarray) -> np.ndarray:
        """``(N, 2)`` image points → ``(N, 2)`` floor points."""
        if len(points) == 0:
            return np.zeros((0, 2))
        pts = np.hstack([points, np.ones((len(points), 1))]) @ self.matrix.T
        out: np.ndarray = pts[:, :2] / pts[:, 2:3]
        return out
