"""The box a customer signs in: every touch becomes a stroke of points with time and pressure.

Points are kept in the box's own units (``BOX_WIDTH`` across, top left origin),
so the strokes do not depend on the screen's size and survive a redraw (another
language, larger text): the widget only draws what :class:`Signing` holds. Time
is milliseconds since the first touch (from the touch's own timestamp, as the
screen reports it); pressure is in thousandths where the screen gives it, else
``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.graphics import Color, Line, Rectangle
from kivy.properties import StringProperty
from kivy.uix.widget import Widget

from edge.schemas.records import MAX_POINTS, MAX_STROKES
from kiosk_ui.pad.state import BOX_WIDTH, Signing
from kiosk_ui.widgets import GREY, WHITE

INK = (0.06, 0.13, 0.28, 1)
BASELINE = (0.70, 0.75, 0.78, 1)
MAX_POINTS_PER_STROKE = 2000


def _texture(text: str) -> Any:
    """``text`` in the hint's colour as a texture (drawn on the box's canvas, under the ink)."""
    from kivy.core.text import Label as CoreLabel

    label = CoreLabel(text=text, font_size=26, color=BASELINE)
    label.refresh()
    return label.texture


class SignatureArea(Widget):
    """A white box that records and draws handwriting into ``signing``; ``on_change`` after each stroke."""

    kid = StringProperty("")

    def __init__(
        self, signing: Signing, *, on_change: Callable[[], None], hint: str = "", kid: str = "sign.box", **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.signing = signing
        self.on_change = on_change
        self.kid = kid
        self.hint = _texture(hint) if hint else None
        self._line: Line | None = None
        self.bind(pos=self._draw, size=self._draw)

    # -- geometry -------------------------------------------------------------------
    def _scale(self) -> float:
        return BOX_WIDTH / max(1.0, float(self.width))

    def _units(self, touch: Any) -> list[int | None]:
        s = self._scale()
        x = min(BOX_WIDTH, max(0, round((touch.x - self.x) * s)))
        y = min(self.signing.height, max(0, round((self.top - touch.y) * s)))
        stamp = float(getattr(touch, "time_update", 0.0) or 0.0)
        if self.signing.started is None:
            self.signing.started = stamp
        t = max(0, round((stamp - self.signing.started) * 1000))
        stroke = self.signing.strokes[-1] if self.signing.strokes else []
        if stroke and isinstance(stroke[-1][2], int):
            t = max(t, stroke[-1][2])  # never back in time within a stroke
        pressure = None
        if "pressure" in (getattr(touch, "profile", None) or []):
            pressure = min(1000, max(0, round(float(touch.pressure) * 1000)))
        return [x, y, t, pressure]

    def _screen(self, point: list[int | None]) -> tuple[float, float]:
        s = self._scale()
        return self.x + float(point[0] or 0) / s, self.top - float(point[1] or 0) / s

    # -- touches --------------------------------------------------------------------
    def _room(self) -> bool:
        """Whether one more point fits in a signature (the core refuses more than it can keep)."""
        return sum(len(s) for s in self.signing.strokes) < MAX_POINTS

    def on_touch_down(self, touch: Any) -> bool:
        if not self.collide_point(*touch.pos):
            return False
        if len(self.signing.strokes) >= MAX_STROKES or not self._room():
            return True  # the box is full: what is there stays, more ink is not taken
        touch.grab(self)
        self.signing.height = round(BOX_WIDTH * self.height / max(1.0, float(self.width)))
        point = self._units(touch)
        self.signing.strokes.append([point])
        with self.canvas:
            Color(*INK)
            self._line = Line(points=[*self._screen(point)], width=2.6, cap="round", joint="round")
        return True

    def on_touch_move(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        stroke = self.signing.strokes[-1]
        if len(stroke) < MAX_POINTS_PER_STROKE and self._room():
            point = self._units(touch)
            stroke.append(point)
            if self._line is not None:
                self._line.points = [*self._line.points, *self._screen(point)]
        return True

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is not self:
            return False
        touch.ungrab(self)
        self._line = None
        self.on_change()
        return True

    # -- drawing --------------------------------------------------------------------
    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        with self.canvas:
            Color(*WHITE)
            Rectangle(pos=self.pos, size=self.size)
            Color(*GREY)
            Line(rectangle=(self.x, self.y, self.width, self.height), width=1.5)
            Color(*BASELINE)
            base = self.y + self.height * 0.22
            Line(points=[self.x + self.width * 0.06, base, self.right - self.width * 0.06, base], width=1.5)
            if self.hint is not None and not self.signing.strokes:  # where to sign, until the first stroke
                w, h = self.hint.size
                Rectangle(texture=self.hint, pos=(self.x + self.width * 0.06, base + 8), size=(w, h))
            Color(*INK)
            for stroke in self.signing.strokes:
                points = [c for p in stroke for c in self._screen(p)]
                if len(stroke) == 1:
                    x, y = points
                    Line(circle=(x, y, 2.6), width=2.6)
                else:
                    Line(points=points, width=2.6, cap="round", joint="round")
