"""The repair report's slip: the reference number the customer quotes to follow the report, as ESC/POS bytes.

Pure, like :mod:`drivers.printer.ticket`::

    >>> data = SlipData("国网示范供电营业厅", "BX-261125-003", "停电", "138****8000", "示范路 1 号", "2026-11-25 09:30")
    >>> raw = render(data, Layout(paper=58))
    >>> b"BX-261125-003" in raw and "138****8000".encode("gb18030") in raw
    True
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.printer import escpos
from drivers.printer.ticket import Layout, wrap

__all__ = ["Layout", "SlipData", "render"]


@dataclass(frozen=True)
class SlipData:
    hall: str
    reference: str
    kind: str
    phone_masked: str
    where: str
    time: str


def render(data: SlipData, layout: Layout) -> bytes:
    """The slip as one ESC/POS byte string, ending with a cut."""
    e = escpos
    cols = layout.columns
    out = [e.init(), e.align("center"), e.bold(True), e.size(1, 2)]
    out += [e.line(ln) for ln in wrap(data.hall, cols)]
    out += [e.size(1, 1), e.line("故障报修回执"), e.bold(False), e.line("-" * cols)]
    out += [e.line("报修单号"), e.bold(True), e.size(2, 2), e.line(data.reference), e.size(1, 1), e.bold(False)]
    out += [e.feed(1), e.align("left")]
    for label, value in (("故障类型", data.kind), ("联系电话", data.phone_masked), ("故障地点", data.where),
                         ("报修时间", data.time)):  # fmt: skip
        out += [e.line(ln) for ln in wrap(f"{label}：{value}", cols)]
    out += [e.line("-" * cols)]
    note = "抢修人员将按您留的电话联系您。凭此单号可在本厅自助机“我的报修”或拨打 95598 查询进度。"
    out += [e.line(ln) for ln in wrap(note, cols)]
    out += [e.feed(2), e.cut()]
    return b"".join(out)
