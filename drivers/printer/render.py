"""Render an interpreted page to a PNG, as the paper would look (CJK font, native QR).

Font A is 12×24 dots (CJK 24×24); ``GS !`` magnifies both. The CJK font is
looked up among Debian's ``fonts-wqy-microhei`` and ``fonts-noto-cjk``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.printer.interpreter import Line, Page, QrBlock

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
DOT = 24  # Font A height in dots
MARGIN = 16


def find_font() -> str:
    for path in FONT_PATHS:
        if Path(path).exists():
            return path
    raise DriverError("no CJK font found: install fonts-wqy-microhei (see debian-packages.txt)")


@lru_cache(maxsize=32)
def _font(px: int, bold: bool) -> Any:
    from PIL import ImageFont

    # index 1 of the WenQuanYi collection is its monospaced face: ASCII half a CJK cell, like a printer
    path = find_font()
    return ImageFont.truetype(path, px, index=1 if "wqy" in path else 0)


def _line_image(line: Line) -> Any:
    from PIL import Image, ImageDraw

    h = DOT * line.height + 6
    parts = []
    for run in line.runs:
        if not run.text:
            continue
        font = _font(DOT * run.height - 2, run.bold)
        w = int(font.getlength(run.text)) + 2
        img = Image.new("L", (max(1, w), DOT * run.height + 4), 255)
        draw = ImageDraw.Draw(img)
        draw.text((0, 0), run.text, font=font, fill=0, stroke_width=1 if run.bold else 0, stroke_fill=0)
        if run.width != run.height:
            img = img.resize((max(1, w * run.width // run.height), img.height))
        parts.append(img)
    total = sum(p.width for p in parts)
    out = Image.new("L", (max(1, total), h), 255)
    x = 0
    for p in parts:
        out.paste(p, (x, h - p.height))
        x += p.width
    return out


def _qr_image(block: QrBlock) -> Any:
    import segno

    code = segno.make_qr(block.data, error=block.ecc.lower(), boost_error=False)
    from PIL import Image

    w, h = code.symbol_size(scale=block.module, border=2)
    img = Image.new("L", (int(w), int(h)), 255)
    px = img.load()
    assert px is not None
    for y, row in enumerate(code.matrix_iter(scale=block.module, border=2)):
        for x, dark in enumerate(row):
            if dark:
                px[x, y] = 0
    return img


def render_png(page: Page, path: Path, paper_dots: int) -> Path:
    """Draw ``page`` on a ``paper_dots`` wide strip and save it as PNG."""
    from PIL import Image

    pieces = []
    for block in page.blocks:
        img = _qr_image(block) if isinstance(block, QrBlock) else _line_image(block)
        pieces.append((img, block.align))
    width = paper_dots + 2 * MARGIN
    height = sum(p.height for p, _ in pieces) + 2 * MARGIN
    sheet = Image.new("L", (width, height), 255)
    y = MARGIN
    for img, align in pieces:
        if img.width > paper_dots:
            img = img.crop((0, 0, paper_dots, img.height))
        x = MARGIN + {0: 0, 1: (paper_dots - img.width) // 2, 2: paper_dots - img.width}.get(align, 0)
        sheet.paste(img, (x, y))
        y += img.height
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, "PNG")
    return path
