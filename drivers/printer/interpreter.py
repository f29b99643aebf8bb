"""An ESC/POS interpreter: the printer's side of the byte stream.

It consumes bytes as they arrive (commands may be split anywhere), answers
``DLE EOT n`` from its paper and cover state, and collects what would be on
paper as :class:`Page` objects, one per cut. Chinese text is decoded as
GB18030 only inside ``FS &`` … ``FS .``, the way a Chinese printer does, so a
driver that forgets Chinese mode shows up as wrong characters::

    >>> from drivers.printer import escpos
    >>> it = Interpreter()
    >>> it.feed(escpos.line("号码 A001") + escpos.cut())
    b''
    >>> it.pages[0].text
    ['号码 A001']
    >>> it.paper_out = True
    >>> it.feed(escpos.status_request(4)).hex()
    '7e'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.printer import escpos as e


@dataclass
class Run:
    text: str
    width: int = 1
    height: int = 1
    bold: bool = False


@dataclass
class Line:
    runs: list[Run] = field(default_factory=list)
    align: int = 0

    @property
    def text(self) -> str:
        return "".join(r.text for r in self.runs)

    @property
    def height(self) -> int:
        return max((r.height for r in self.runs), default=1)


@dataclass
class QrBlock:
    data: bytes
    module: int
    ecc: str
    align: int


@dataclass
class Page:
    blocks: list[Line | QrBlock] = field(default_factory=list)

    @property
    def text(self) -> list[str]:
        return [b.text for b in self.blocks if isinstance(b, Line) and b.text]

    @property
    def qr(self) -> list[bytes]:
        return [b.data for b in self.blocks if isinstance(b, QrBlock)]


_ECC = {v: k for k, v in e.QR_ECC.items()}


class Interpreter:
    """Feed it bytes; read ``pages``; set ``paper_out`` / ``paper_near_end`` / ``cover_open``."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pages: list[Page] = []
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.unknown = 0
        self.discarded = 0
        self._reset()
        self.page = Page()
        self.line = Line()

    def _reset(self) -> None:
        self.kanji = False
        self.align = 0
        self.bold = False
        self.width = 1
        self.height = 1
        self.qr_data = b""
        self.qr_module = 3
        self.qr_ecc = "L"

    @property
    def can_print(self) -> bool:
        return not (self.paper_out or self.cover_open)

    def status_byte(self, n: int) -> int:
        value = e.STATUS_FIXED
        if n == 1 and not self.can_print:
            value |= e.ST1_OFFLINE
        if n == 2:
            value |= (e.ST2_COVER_OPEN if self.cover_open else 0) | (e.ST2_PAPER_END_STOP if self.paper_out else 0)
        if n == 4:
            value |= (e.ST4_NEAR_END if self.paper_near_end or self.paper_out else 0) | (
                e.ST4_PAPER_END if self.paper_out else 0
            )
        return value

    def feed(self, data: bytes) -> bytes:
        """Consume bytes; return what the printer sends back (status answers)."""
        self.buf += data
        out = bytearray()
        while self.buf:
            used, reply = self._step()
            if used == 0:
                break
            del self.buf[:used]
            out += reply
        return bytes(out)

    # -- one command or character --------------------------------------------------
    def _step(self) -> tuple[int, bytes]:
        b = self.buf
        c = b[0]
        if c == 0x10:  # DLE
            if len(b) < 3:
                return 0, b""
            if b[1] == 0x04 and b[2] in (1, 2, 3, 4):
                return 3, bytes([self.status_byte(b[2])])
            self.unknown += 1
            return 1, b""
        if c == 0x0A:
            self._newline()
            return 1, b""
        if c == 0x0D:
            return 1, b""
        if c in (0x1B, 0x1C, 0x1D):
            return self._command()
        if c < 0x20:
            self.unknown += 1
            return 1, b""
        return self._char()

    def _char(self) -> tuple[int, bytes]:
        b = self.buf
        if not self.kanji or b[0] < 0x80:
            ch = chr(b[0]) if b[0] < 0x80 else "?"
            self._put(ch)
            return 1, b""
        if len(b) < 2:
            return 0, b""
        n = 4 if 0x30 <= b[1] <= 0x39 else 2
        if len(b) < n:
            return 0, b""
        try:
            ch = bytes(b[:n]).decode("gb18030")
        except UnicodeDecodeError:
            ch, n = "?", 1
        self._put(ch)
        return n, b""

    def _command(self) -> tuple[int, bytes]:
        b = self.buf
        if len(b) < 2:
            return 0, b""
        pre, cmd = b[0], b[1]
        need_arg = {
            (0x1B, 0x61),
            (0x1B, 0x45),
            (0x1B, 0x64),
            (0x1B, 0x33),
            (0x1B, 0x21),
            (0x1B, 0x4D),
            (0x1D, 0x21),
            (0x1D, 0x42),
        }
        if (pre, cmd) in need_arg:
            if len(b) < 3:
                return 0, b""
            self._apply(pre, cmd, b[2])
            return 3, b""
        if (pre, cmd) == (0x1B, 0x40):
            self._reset()
            return 2, b""
        if (pre, cmd) == (0x1B, 0x32):
            return 2, b""
        if (pre, cmd) == (0x1C, 0x26):
            self.kanji = True
            return 2, b""
        if (pre, cmd) == (0x1C, 0x2E):
            self.kanji = False
            return 2, b""
        if (pre, cmd) == (0x1D, 0x56):
            if len(b) < 3:
                return 0, b""
            if b[2] in (65, 66, 97, 98):
                if len(b) < 4:
                    return 0, b""
                self._cut()
                return 4, b""
            self._cut()
            return 3, b""
        if (pre, cmd) == (0x1D, 0x28):
            return self._gs_paren()
        self.unknown += 1
        return 2, b""

    def _gs_paren(self) -> tuple[int, bytes]:
        b = self.buf
        if len(b) < 5:
            return 0, b""
        n = b[3] | b[4] << 8
        if len(b) < 5 + n:
            return 0, b""
        body = bytes(b[5 : 5 + n])
        if b[2] == ord("k") and len(body) >= 2 and body[0] == e.QR_CN:
            fn, params = body[1], body[2:]
            if fn == e.QR_FN_SIZE and params:
                self.qr_module = params[0]
            elif fn == e.QR_FN_ECC and params:
                self.qr_ecc = _ECC.get(params[0], "L")
            elif fn == e.QR_FN_STORE:
                self.qr_data = params[1:]
            elif fn == e.QR_FN_PRINT and self.qr_data:
                self._flush_line()
                self._block(QrBlock(self.qr_data, self.qr_module, self.qr_ecc, self.align))
        else:
            self.unknown += 1
        return 5 + n, b""

    def _apply(self, pre: int, cmd: int, arg: int) -> None:
        if (pre, cmd) == (0x1B, 0x61):
            self.align = arg % 48 if arg >= 48 else arg
        elif (pre, cmd) == (0x1B, 0x45):
            self.bold = bool(arg & 1)
        elif (pre, cmd) == (0x1B, 0x64):
            self._flush_line()
            for _ in range(arg):
                self._block(Line(align=self.align))
        elif (pre, cmd) == (0x1D, 0x21):
            self.width, self.height = (arg >> 4) + 1, (arg & 0x0F) + 1

    # -- paper ------------------------------------------------------------------------
    def _put(self, ch: str) -> None:
        runs = self.line.runs
        if runs and (runs[-1].width, runs[-1].height, runs[-1].bold) == (self.width, self.height, self.bold):
            runs[-1].text += ch
        else:
            runs.append(Run(ch, self.width, self.height, self.bold))
        if not self.line.runs[:-1]:
            self.line.align = self.align

    def _block(self, block: Line | QrBlock) -> None:
        if self.can_print:
            self.page.blocks.append(block)
        else:
            self.discarded += 1

    def _flush_line(self) -> None:
        if self.line.runs:
            self._block(self.line)
            self.line = Line(align=self.align)

    def _newline(self) -> None:
        if self.line.runs:
            self._flush_line()
        else:
            self._block(Line([Run("", self.width, self.height)], self.align))

    def _cut(self) -> None:
        self._flush_line()
        if self.page.blocks and self.can_print:
            self.pages.append(self.page)
            self.on_page(self.page)
        self.page = Page()

    def on_page(self, page: Page) -> None:
        """Called at each cut with the finished page (the simulated printer renders it)."""
