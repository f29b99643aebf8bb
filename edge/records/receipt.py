"""The customer's receipt for a signed record: one A5 PDF page, Chinese in an embedded CJK font.

It shows what the customer signed (the form, its values, the terms), the
signature as drawn, the ticket, counter, clerk and local time, and the record's
number and digest, also as a QR code (``hall|record|digest``) so anyone can
check the paper against the hall's records::

    pdf = receipt_pdf(record, png, hall_name="国网示范供电营业厅", zone="Asia/Shanghai")

matplotlib draws it (Agg, no display); it is imported only here.
"""

from __future__ import annotations

import io
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from edge.errors import HallError

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
A5 = (5.83, 8.27)  # inches
INK = "#17232f"
MUTED = "#5b6770"
GREEN = "#00736b"


def _font() -> Path:
    for name in CJK_FONTS:
        if Path(name).is_file():
            return Path(name)
    raise HallError("no CJK font for the receipt: install the Debian package fonts-wqy-microhei")


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` columns (a CJK character counts two), breaking anywhere (CJK has no spaces).

    >>> wrap("本人确认以上信息", 8)
    ['本人确认', '以上信息']
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, used = "", 0
        for ch in paragraph:
            w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
            if used + w > width:
                lines.append(line)
                line, used = "", 0
            line += ch
            used += w
        lines.append(line)
    return lines


def _local(iso: str | None, zone: str) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def receipt_pdf(record: dict[str, Any], png: bytes, *, hall_name: str, zone: str) -> bytes:
    """The receipt of ``record`` (as ``record.show`` returns it) with its signature picture ``png``."""
    import matplotlib
    import segno
    from matplotlib.backends.backend_pdf import FigureCanvasPdf
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from PIL import Image

    font = FontProperties(fname=str(_font()))
    bold = FontProperties(fname=str(_font()), weight="bold")
    fig = Figure(figsize=A5)
    FigureCanvasPdf(fig)
    width_in, height_in = A5
    y = height_in - 0.45  # inches from the bottom, moving down

    def put(text: str, size: float, *, x: float = 0.45, color: str = INK, prop: Any = font, gap: float = 1.5) -> None:
        nonlocal y
        fig.text(x / width_in, y / height_in, text, fontproperties=prop, size=size, color=color, va="top")
        y -= size / 72 * gap

    form = record.get("form") or {}
    put(hall_name, 13, prop=bold, color=GREEN)
    put("业务办理回执  Receipt", 10, color=MUTED, gap=2.0)
    put(str(form.get("title", "")), 14, prop=bold, gap=1.9)
    for field in form.get("fields", []):
        label = str(field.get("label", ""))
        lines = wrap(str(field.get("value") or "—"), 40)
        fig.text(0.45 / width_in, y / height_in, label, fontproperties=font, size=9, color=MUTED, va="top")
        for line in lines:
            put(line, 9.5, x=1.75, gap=1.45)
        y -= 0.03
    y -= 0.08
    put("签名即表示确认并同意：", 8.5, color=GREEN)
    for i, term in enumerate(form.get("terms", []), start=1):
        for j, line in enumerate(wrap(f"{i}、{term}", 76)):
            put(("" if j == 0 else "   ") + line, 7.5, x=0.5, color=MUTED, gap=1.4)
    y -= 0.1
    with Image.open(io.BytesIO(png)) as picture:
        sig = picture.convert("RGB")
    sig_w = 3.0
    sig_h = sig_w * sig.height / max(1, sig.width)
    put("客户签名", 8.5, color=MUTED, gap=1.2)
    ax = fig.add_axes((0.45 / width_in, (y - sig_h) / height_in, sig_w / width_in, sig_h / height_in))
    ax.imshow(sig)
    ax.set_axis_off()
    y -= sig_h + 0.12
    ticket = record.get("ticket") or {}
    facts = [
        f"号码 {ticket.get('number', '—')}    窗口 {record.get('counter_name', record.get('counter', ''))}"
        f"    工作人员 {record.get('staff') or '—'}",
        f"签署时间 {_local(record.get('signed_at'), zone)}",
        f"回执编号 {record.get('id', '')}（当日第 {record.get('n', '')} 份）",
        "校验码 SHA-256",
        str(record.get("digest", ""))[:32],
        str(record.get("digest", ""))[32:],
    ]
    top = y
    for line in facts:
        put(line, 8, color=INK, gap=1.5)
    qr = segno.make(f"{record.get('hall', '')}|{record.get('id', '')}|{record.get('digest', '')}", error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=4, border=1)
    buf.seek(0)
    with Image.open(buf) as code:
        qr_img = code.convert("RGB")
    side = 1.15
    ax = fig.add_axes(
        ((width_in - 0.45 - side) / width_in, (top - side) / height_in, side / width_in, side / height_in)
    )
    ax.imshow(qr_img, interpolation="nearest")
    ax.set_axis_off()
    out = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42}):
        fig.savefig(out, format="pdf", metadata={"Title": f"{hall_name} {record.get('id', '')}"})
    return out.getvalue()
