"""Counting lines, polygons and the floor homography."""

from __future__ import annotations

import numpy as np
import pytest

from vision.geometry import Homography, Line, Polygon


def test_line_sides_dead_band_and_ends() -> None:
    line = Line(0, 0, 100, 0)  # pointing right: 'in' is below on screen (y grows downward)
    assert line.side((50, 10)) == 1
    assert line.side((50, -10)) == -1
    assert line.side((50, 3), margin=5) == 0
    assert line.side((150, 10)) == 0  # beyond the end of the segment


def test_line_parse_names_the_problem() -> None:
    assert Line.parse("1, 2,3,4") == Line(1, 2, 3, 4)
    with pytest.raises(ValueError, match="four numbers"):
        Line.parse("1,2,3")
    with pytest.raises(ValueError, match="four numbers"):
        Line.parse("1,2,3,x")
    with pytest.raises(ValueError, match="distinct"):
        Line.parse("5,5,5,5")


def test_polygon_concave() -> None:
    u_shape = Polygon([(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)])
    assert u_shape.contains((5, 20))
    assert not u_shape.contains((15, 20))  # inside the notch
    assert not u_shape.contains((40, 5))
    with pytest.raises(ValueError):
        Polygon([(0, 0), (1, 1)])


def test_homography_agrees_with_opencv() -> None:
    import cv2

    image = [(100, 500), (700, 520), (560, 200), (220, 190)]
    floor = [(0, 400), (300, 400), (300, 0), (0, 0)]
    h = Homography(image, floor)
    ref = cv2.getPerspectiveTransform(np.float32(image), np.float32(floor))
    pts = np.array([[400.0, 350.0], [150.0, 480.0], [600.0, 250.0]])
    expected = cv2.perspectiveTransform(pts[None].astype(np.float64), ref)[0]
    assert np.allclose(h.map_many(pts), expected, atol=1e-6)
    for (x, y), (u, v) in zip(image, floor, strict=True):
        assert np.allclose(h.map((x, y)), (u, v), atol=1e-6)


def test_homography_refuses_collinear_points() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        Homography([(0, 0), (1, 1), (2, 2), (3, 3)], [(0, 0), (1, 0), (1, 1), (0, 1)])
