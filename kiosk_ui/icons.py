"""Icons drawn by the kiosk itself with Kivy's canvas: no image files, nothing to license.

Each icon is a few strokes in a unit square (origin bottom left), scaled into the
widget; business tiles use the ``icon`` name of the business in the hall config
(``bill``, ``connection``, ``change``, ``enquiry``, …), unknown names get a ring.
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line
from kivy.uix.widget import Widget

Stroke = tuple[Any, ...]

_CAL = [
    ("rect", 0.15, 0.12, 0.7, 0.66),
    ("line", (0.15, 0.62, 0.85, 0.62)),
    ("line", (0.33, 0.7, 0.33, 0.86)),
    ("line", (0.67, 0.7, 0.67, 0.86)),
]
ICONS: dict[str, list[Stroke]] = {
    "bill": [
        ("rect", 0.22, 0.08, 0.56, 0.84),
        ("line", (0.36, 0.7, 0.5, 0.54, 0.64, 0.7)),
        ("line", (0.5, 0.54, 0.5, 0.22)),
        ("line", (0.38, 0.46, 0.62, 0.46)),
        ("line", (0.38, 0.36, 0.62, 0.36)),
    ],
    "connection": [
        ("rect", 0.3, 0.36, 0.4, 0.28),
        ("line", (0.4, 0.64, 0.4, 0.86)),
        ("line", (0.6, 0.64, 0.6, 0.86)),
        ("line", (0.5, 0.36, 0.5, 0.22, 0.74, 0.1)),
    ],
    "change": [
        ("line", (0.16, 0.66, 0.84, 0.66)),
        ("line", (0.72, 0.78, 0.84, 0.66, 0.72, 0.54)),
        ("line", (0.84, 0.34, 0.16, 0.34)),
        ("line", (0.28, 0.46, 0.16, 0.34, 0.28, 0.22)),
    ],
    "enquiry": [
        ("circle", 0.5, 0.5, 0.42),
        ("line", (0.37, 0.62, 0.41, 0.71, 0.5, 0.75, 0.59, 0.71, 0.63, 0.62, 0.58, 0.54, 0.5, 0.49, 0.5, 0.38)),
        ("disc", 0.5, 0.26, 0.045),
    ],
    "repair": [("line", (0.22, 0.22, 0.58, 0.58)), ("circle", 0.67, 0.67, 0.15), ("disc", 0.2, 0.2, 0.06)],
    "usage": [*_CAL, ("box", 0.24, 0.42, 0.12, 0.1), ("box", 0.44, 0.42, 0.12, 0.1), ("box", 0.64, 0.22, 0.12, 0.1)],
    "outage": [("line", (0.58, 0.92, 0.3, 0.46, 0.52, 0.46, 0.42, 0.08, 0.72, 0.56, 0.5, 0.56, 0.58, 0.92))],
    "face": [
        ("circle", 0.5, 0.5, 0.3),
        ("disc", 0.4, 0.56, 0.035),
        ("disc", 0.6, 0.56, 0.035),
        ("line", (0.38, 0.4, 0.45, 0.35, 0.55, 0.35, 0.62, 0.4)),
        ("line", (0.08, 0.26, 0.08, 0.08, 0.26, 0.08)),
        ("line", (0.74, 0.08, 0.92, 0.08, 0.92, 0.26)),
        ("line", (0.92, 0.74, 0.92, 0.92, 0.74, 0.92)),
        ("line", (0.26, 0.92, 0.08, 0.92, 0.08, 0.74)),
    ],
    "elderly": [
        ("disc", 0.44, 0.82, 0.08),
        ("line", (0.44, 0.7, 0.41, 0.4)),
        ("line", (0.32, 0.1, 0.41, 0.4, 0.52, 0.1)),
        ("line", (0.43, 0.62, 0.64, 0.5)),
        ("line", (0.64, 0.5, 0.68, 0.08)),
    ],
    "appointment": [*_CAL, ("line", (0.3, 0.38, 0.44, 0.25, 0.7, 0.52))],
    "ticket": [("rect", 0.18, 0.24, 0.64, 0.52), ("line", (0.3, 0.56, 0.7, 0.56)), ("line", (0.3, 0.42, 0.56, 0.42))],
    "staff": [("circle", 0.5, 0.66, 0.16), ("line", (0.18, 0.1, 0.26, 0.34, 0.5, 0.44, 0.74, 0.34, 0.82, 0.1))],
    "green": [("circle", 0.5, 0.5, 0.4), ("line", (0.3, 0.5, 0.45, 0.34, 0.72, 0.66))],
    "ring": [("circle", 0.5, 0.5, 0.4)],
    "id": [
        ("rect", 0.12, 0.24, 0.76, 0.52),
        ("circle", 0.33, 0.52, 0.1),
        ("line", (0.5, 0.6, 0.78, 0.6)),
        ("line", (0.5, 0.46, 0.72, 0.46)),
        ("line", (0.22, 0.34, 0.78, 0.34)),
    ],
    "form": [
        ("rect", 0.2, 0.08, 0.6, 0.84),
        ("line", (0.32, 0.74, 0.68, 0.74)),
        ("line", (0.32, 0.6, 0.68, 0.6)),
        ("line", (0.32, 0.46, 0.56, 0.46)),
        ("line", (0.3, 0.24, 0.38, 0.3, 0.44, 0.2, 0.5, 0.28, 0.56, 0.22, 0.7, 0.24)),
    ],
    "pen": [
        ("line", (0.22, 0.18, 0.28, 0.36, 0.72, 0.8, 0.82, 0.7, 0.38, 0.26, 0.22, 0.18)),
        ("line", (0.64, 0.72, 0.74, 0.62)),
        ("line", (0.14, 0.1, 0.86, 0.1)),
    ],
}


class Icon(Widget):
    """A named icon in one colour, drawn to fit the widget (a centred square)."""

    def __init__(self, name: str, *, color: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.name = name
        self.color = color
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        side = min(self.width, self.height) * 0.9
        if side <= 0:
            return
        ox = self.x + (self.width - side) / 2
        oy = self.y + (self.height - side) / 2
        width = max(1.5, side * 0.045)

        def pt(x: float, y: float) -> tuple[float, float]:
            return ox + x * side, oy + y * side

        self.canvas.clear()
        with self.canvas:
            Color(*self.color)
            for stroke in ICONS.get(self.name, [("circle", 0.5, 0.5, 0.38)]):
                kind = stroke[0]
                if kind == "line":
                    coords = stroke[1]
                    points = [c for i in range(0, len(coords), 2) for c in pt(coords[i], coords[i + 1])]
                    Line(points=points, width=width, cap="round", joint="round")
                elif kind in ("rect", "box"):
                    x, y = pt(stroke[1], stroke[2])
                    w, h = stroke[3] * side, stroke[4] * side
                    if kind == "rect":
                        Line(rounded_rectangle=(x, y, w, h, side * 0.05), width=width)
                    else:
                        Line(rectangle=(x, y, w, h), width=width)
                elif kind in ("circle", "disc"):
                    cx, cy = pt(stroke[1], stroke[2])
                    r = stroke[3] * side
                    if kind == "circle":
                        Line(circle=(cx, cy, r), width=width)
                    else:
                        Ellipse(pos=(cx - r, cy - r), size=(2 * r, 2 * r))
