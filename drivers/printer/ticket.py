"""The queue ticket's layout for 58 mm and 80 mm paper, as ESC/POS bytes.

Pure: a :class:`TicketData` in, bytes out::

    >>> data = TicketData("国网示范供电营业厅", "电费缴纳", "A001", 2, 6, "2026-11-25 09:30")
    >>> raw = render(data, Layout(paper=58, qr_url="https://hall.example/t/{number}"))
    >>> b"A001" in raw and "电费缴纳".encode("gb18030") in raw
    True
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from drivers.printer import escpos

# Font A columns: 384 dots / 12 = 32 on 58 mm paper, 576 / 12 = 48 on 80 mm.
COLUMNS = {58: 32, 80: 48}
DOTS = {58: 384, 80: 576}
# Punctuation that must not begin a line (Chinese line-breaking rules).
NO_LINE_START = frozenset("，。、；：！？）】」』》,.;:!?)")
DEFAULT_NOTE = "您的个人信息仅用于本次业务办理，不会用于其他用途。"


@dataclass(frozen=True)
class TicketData:
    hall: str
    business: str
    number: str
    people_ahead: int
    wait_minutes: int | None  # None: no counter serving the business is open yet
    time: str
    priority: str = "normal"
    ticket_id: str = ""
    counters_open: int | None = None  # None: not known (then wait_minutes is said as it is)
    wait_after_opening: int | None = None  # when no counter is open: the wait from when one opens

    def wait_lines(self) -> list[str]:
        """What the ticket says about the wait.

        >>> TicketData("厅", "电费缴纳", "A004", 3, None, "", counters_open=0, wait_after_opening=5).wait_lines()
        ['暂无窗口开放办理此业务', '窗口开放后预计等候约 5 分钟']
        """
        if self.counters_open == 0 or self.wait_minutes is None:
            if self.wait_after_opening is None:
                return ["暂无窗口开放办理此业务"]
            if self.wait_after_opening == 0:
                return ["暂无窗口开放办理此业务", "窗口开放后即可办理"]
            return ["暂无窗口开放办理此业务", f"窗口开放后预计等候约 {self.wait_after_opening} 分钟"]
        return [f"预计等候约 {self.wait_minutes} 分钟"]


@dataclass(frozen=True)
class Layout:
    paper: Literal[58, 80] = 80
    qr_url: str = ""
    privacy_note: str = DEFAULT_NOTE
    footer: str = "请留意叫号，过号请重新取号"

    @property
    def columns(self) -> int:
        return COLUMNS[self.paper]


def display_width(s: str) -> int:
    """Columns a string takes: East-Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def wrap(s: str, columns: int) -> list[str]:
    """Break ``s`` into lines of at most ``columns`` display columns (CJK text has no spaces to break at)."""
    lines, cur, width = [], "", 0
    for ch in s:
        w = display_width(ch)
        if width + w > columns and cur:
            carry = ""
            if ch in NO_LINE_START and len(cur) > 1:
                cur, carry = cur[:-1], cur[-1]
            lines.append(cur)
            cur, width = carry, display_width(carry)
        cur += ch
        width += w
    if cur:
        lines.append(cur)
    return lines


def qr_link(layout: Layout, data: TicketData) -> str:
    return layout.qr_url.format(number=data.number, ticket_id=data.ticket_id)


def render(data: TicketData, layout: Layout) -> bytes:
    """The ticket as one ESC/POS byte string, ending with a cut."""
    e = escpos
    cols = layout.columns
    big = 4 if layout.paper == 58 else 5
    out = [e.init(), e.align("center"), e.bold(True), e.size(2, 2) if layout.paper == 80 else e.size(1, 2)]
    out += [e.line(ln) for ln in wrap(data.hall, cols // 2 if layout.paper == 80 else cols)]
    out += [e.size(1, 1), e.bold(False), e.line("-" * cols)]
    out += [e.size(2, 2), e.line(data.business), e.size(1, 1), e.feed(1)]
    out += [e.bold(True), e.size(big, big), e.line(data.number), e.size(1, 1), e.bold(False)]
    if data.priority in ("green", "vip", "appointment"):
        label = {"green": "绿色通道", "vip": "优先服务", "appointment": "预约"}[data.priority]
        out.append(e.line(f"【{label}】"))
    out.append(e.feed(1))
    out += [e.line(f"您前面还有 {data.people_ahead} 人"), *(e.line(ln) for ln in data.wait_lines())]
    out += [e.line(f"取号时间 {data.time}")]
    link = qr_link(layout, data) if layout.qr_url else ""
    if link:
        out += [e.feed(1), e.qr(link, module=5 if layout.paper == 58 else 6), e.line("扫码查看排队进度")]
    out += [e.line("-" * cols), e.align("left")]
    out += [e.line(ln) for ln in wrap(layout.privacy_note, cols)]
    if layout.footer:
        out += [e.align("center"), e.line(layout.footer)]
    out += [e.feed(2), e.cut()]
    return b"".join(out)
