"""Handwritten signatures: whether one is long enough to be a name, and its picture.

Strokes are lists of ``[x, y, t, p]`` points in a box of ``width`` × ``height``
(see :class:`edge.schemas.records.Signature`). A dot or a tick is not a
signature: :func:`too_short` says why one is refused, in words the pad can show.

    >>> dot = [[[500, 200, 0, None]]]
    >>> too_short(dot, width=1000)
    'too few points'
    >>> name = [[[100 + 10 * i, 200 + (i % 3) * 20, 15 * i, None] for i in range(60)]]
    >>> too_short(name, width=1000) is None
    True

:func:`render` draws the strokes as a PNG (dark ink on white, wider where the
screen reported more pressure) with Pillow, the same bytes every time for the
same strokes.
"""

from __future__ import annotations

import io
import itertools
import math
from typing import Any

Strokes = list[list[list[Any]]]

MIN_POINTS = 12  # a tap gives one or two points; a name gives dozens
MIN_INK = 0.5  # total length of the strokes, in widths of the box
MIN_SPAN = 0.12  # how far the ink reaches across the box, in widths
RENDER_WIDTH = 600  # pixels across the picture
INK = (16, 32, 72)


def ink_length(strokes: Strokes) -> float:
    """The total length of the strokes, in the box's units."""
    total = 0.0
    for stroke in strokes:
        for (x0, y0, *_), (x1, y1, *_) in itertools.pairwise(stroke):
            total += math.hypot(x1 - x0, y1 - y0)
    return total


def too_short(strokes: Strokes, *, width: int) -> str | None:
    """Why these strokes are not a signature (``None`` when they may be one)."""
    points = [p for stroke in strokes for p in stroke]
    if len(points) < MIN_POINTS:
        return "too few points"
    if ink_length(strokes) < MIN_INK * width:
        return "too little ink"
    xs = [p[0] for p in points]
    if max(xs) - min(xs) < MIN_SPAN * width:
        return "too narrow"
    return None


def render(strokes: Strokes, *, width: int, height: int) -> bytes:
    """The strokes drawn as a PNG, ``RENDER_WIDTH`` pixels wide, with the box's proportions."""
    from PIL import Image, ImageDraw

    over = 3  # drawn three times larger, then scaled down: smooth edges without antialiased lines
    scale = RENDER_WIDTH / width
    out_h = max(1, round(height * scale))
    big = Image.new("RGB", (RENDER_WIDTH * over, out_h * over), "white")
    draw = ImageDraw.Draw(big)
    base = 5.0 * over
    for stroke in strokes:
        pts = [(x * scale * over, y * scale * over) for x, y, *_ in stroke]
        pressures = [p[3] for p in stroke]
        if len(pts) == 1:
            x, y = pts[0]
            r = base / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=INK)
            continue
        for i in range(1, len(pts)):
            p = pressures[i]
            w = base if p is None else base * (0.5 + p / 1000)
            draw.line([pts[i - 1], pts[i]], fill=INK, width=max(1, round(w)))
            r = w / 2  # round joints
            x, y = pts[i]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=INK)
    small = big.resize((RENDER_WIDTH, out_h), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
