"""Touch-sized widgets in the hall's colours, and the CJK font every label uses.

Every text goes through :class:`Text` (a wrapping label) and every touch target is
a :class:`Tile` (icon, title, subtitle) or a :class:`Btn`; each carries a ``kid``,
a stable name tests and the tour use to find and tap it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.graphics import Color, Line, RoundedRectangle
from kivy.properties import ListProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label

from kiosk_ui.errors import KioskError
from kiosk_ui.icons import Icon
from kiosk_ui.linebreak import break_lines, has_cjk

# State Grid green, on a calm light background; orange only for the number a customer must remember.
BG = (0.955, 0.965, 0.97, 1)
INK = (0.10, 0.16, 0.19, 1)
MUTED = (0.33, 0.40, 0.44, 1)
GREEN = (0.0, 0.45, 0.42, 1)
GREEN_LIGHT = (0.86, 0.94, 0.92, 1)
WHITE = (1, 1, 1, 1)
ORANGE = (0.86, 0.38, 0.0, 1)
ORANGE_LIGHT = (1.0, 0.93, 0.85, 1)
RED = (0.74, 0.12, 0.10, 1)
RED_LIGHT = (0.99, 0.91, 0.89, 1)
GREY = (0.80, 0.83, 0.85, 1)

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def find_cjk_font() -> Path:
    """The first installed CJK font; :class:`KioskError` naming the Debian package when none is."""
    for name in CJK_FONTS:
        if Path(name).is_file():
            return Path(name)
    raise KioskError("no CJK font found: install the Debian package fonts-wqy-microhei (make setup does)")


def register_fonts() -> Path:
    """Make the CJK font Kivy's default, so every label shows Chinese instead of boxes."""
    font = find_cjk_font()
    LabelBase.register(DEFAULT_FONT, str(font))
    return font


class Text(Label):
    """A label that wraps to its width; ``size_hint_y=None`` labels grow to fit their text.

    Chinese wraps by character, closing punctuation never starting a line (:mod:`kiosk_ui.linebreak`);
    ``text`` stays what was given: only the lines drawn carry the breaks."""

    kid = StringProperty("")

    def __init__(self, text: str = "", *, size: float = 28, color: Any = INK, kid: str = "", **kw: Any) -> None:
        kw.setdefault("halign", "center")
        kw.setdefault("valign", "middle")
        super().__init__(text=text, font_size=size, color=color, **kw)
        self.kid = kid
        self.bind(width=self._wrap)
        if self.size_hint_y is None:
            self.bind(texture_size=self._grow)

    def _wrap(self, *_: Any) -> None:
        self.text_size = (self.width - 16, None)

    def texture_update(self, *largs: Any) -> None:
        """Draw the text in lines broken here when it holds Chinese (Kivy itself breaks at spaces only)."""
        width = self.text_size[0]
        if width is not None and width > 0 and has_cjk(self.text):
            core = self._label
            core.text = "\n".join(break_lines(self.text, width, lambda s: float(core.get_extents(s)[0])))
        super().texture_update(*largs)

    def _grow(self, *_: Any) -> None:
        self.height = self.texture_size[1] + 12


class Panel(BoxLayout):
    """A rounded, filled box."""

    fill = ListProperty(list(WHITE))

    def __init__(self, fill: Any = WHITE, radius: float = 18, border: Any = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.fill = list(fill)
        self._radius = radius
        self._border = border
        self.bind(pos=self._draw, size=self._draw, fill=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.before.clear()
        with self.canvas.before:
            Color(*self.fill)
            RoundedRectangle(pos=self.pos, size=self.size, radius=[self._radius])
            if self._border is not None:
                Color(*self._border)
                Line(rounded_rectangle=(*self.pos, *self.size, self._radius), width=2)


class Btn(ButtonBehavior, Panel):
    """A touch target with one or two lines of text."""

    kid = StringProperty("")

    def __init__(
        self,
        text: str,
        *,
        kid: str,
        size: float = 30,
        fill: Any = GREEN,
        color: Any = WHITE,
        sub: str = "",
        icon: str = "",
        border: Any = None,
        **kw: Any,
    ) -> None:
        kw.setdefault("orientation", "horizontal" if icon else "vertical")
        kw.setdefault("padding", (18, 10))
        kw.setdefault("spacing", 12)
        super().__init__(fill=fill, border=border, **kw)
        self.kid = kid
        self._fill = list(fill)
        if icon:
            self.add_widget(Icon(icon, color=color, size_hint_x=None, width=size * 2.4))
        column = BoxLayout(orientation="vertical") if icon else self
        self.label = Text(text, size=size, color=color, bold=True)
        column.add_widget(self.label)
        if sub:
            column.add_widget(Text(sub, size=size * 0.62, color=color))
        if column is not self:
            self.add_widget(column)

    @property
    def text(self) -> str:
        return str(self.label.text)

    def on_press(self) -> None:
        self.fill = [c * 0.85 for c in self._fill[:3]] + [1]

    def on_release(self) -> None:
        self.fill = list(self._fill)


class Tile(Btn):
    """A large business tile: icon on top, name, and a line of detail."""

    def __init__(self, text: str, *, kid: str, icon: str, sub: str = "", size: float = 34, **kw: Any) -> None:
        kw.setdefault("fill", WHITE)
        kw.setdefault("color", INK)
        kw.setdefault("border", GREY)
        super().__init__(text, kid=kid, size=size, sub="", **kw)
        self.orientation = "vertical"
        self.clear_widgets()
        color = kw["color"] if kw["color"] != INK else GREEN
        self.add_widget(Icon(icon, color=color, size_hint_y=0.55))
        self.label.size_hint_y = 0.3
        self.add_widget(self.label)
        if sub:
            self.add_widget(Text(sub, size=size * 0.62, color=MUTED, size_hint_y=0.15))
