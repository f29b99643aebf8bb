"""ESC/POS: the command bytes we send, and the real-time status bytes printers answer.

Pure functions and named constants only, no I/O. Every constant cites the
section of Epson's *ESC/POS Command Reference* (TM series) that defines it.
Chinese text is GB18030 and is always wrapped in the printer's Chinese
(Kanji) mode, entered with ``FS &`` and left with ``FS .``, so no code-page
guess is ever involved::

    >>> text("号").hex(" ")
    '1c 26 ba c5 1c 2e'
    >>> qr_store(b"A1").hex(" ")
    '1d 28 6b 05 00 31 50 30 41 31'
    >>> parse_status({1: 0x16, 2: 0x12, 3: 0x12, 4: 0x12}).ready
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from drivers.errors import ProtocolError

# -- control characters ---------------------------------------------------------
LF = b"\x0a"  # LF: print and line feed
ESC = b"\x1b"
GS = b"\x1d"
FS = b"\x1c"
DLE = b"\x10"
EOT = b"\x04"

# -- commands -------------------------------------------------------------------
INIT = ESC + b"@"  # ESC @: initialize printer (clears buffer, resets modes)
ALIGN = ESC + b"a"  # ESC a n: select justification (0 left, 1 centre, 2 right)
BOLD = ESC + b"E"  # ESC E n: turn emphasized mode on (n=1) / off (n=0)
SIZE = GS + b"!"  # GS ! n: character size; high nibble width-1, low nibble height-1
FEED_LINES = ESC + b"d"  # ESC d n: print and feed n lines
LINE_SPACING = ESC + b"3"  # ESC 3 n: set line spacing to n motion units
LINE_SPACING_DEFAULT = ESC + b"2"  # ESC 2: default line spacing (1/6 inch)
CUT = GS + b"V"  # GS V m n: select cut mode and cut paper
CUT_PARTIAL_AFTER_FEED = 66  # GS V function B, m=66: feed n units, then partial cut
KANJI_ON = FS + b"&"  # FS &: select Kanji (Chinese) character mode
KANJI_OFF = FS + b"."  # FS .: cancel Kanji (Chinese) character mode
QR = GS + b"(k"  # GS ( k pL pH cn fn …: 2D code, cn=49 (0x31) is QR Code
QR_CN = 0x31
QR_FN_MODEL = 0x41  # function 165: select the model
QR_FN_SIZE = 0x43  # function 167: set the module size in dots
QR_FN_ECC = 0x45  # function 169: select the error correction level
QR_FN_STORE = 0x50  # function 180: store the data in the symbol storage area
QR_FN_PRINT = 0x51  # function 181: print the symbol data in the symbol storage area
QR_MODEL_2 = 0x32
QR_ECC = {"L": 0x30, "M": 0x31, "Q": 0x32, "H": 0x33}
STATUS = DLE + EOT  # DLE EOT n: transmit real-time status (n = 1..4)

Align = Literal["left", "center", "right"]
_ALIGN = {"left": 0, "center": 1, "right": 2}
QR_MAX_DATA = 7089 - 3


def init() -> bytes:
    return INIT


def align(where: Align) -> bytes:
    return ALIGN + bytes([_ALIGN[where]])


def bold(on: bool) -> bytes:
    return BOLD + bytes([1 if on else 0])


def size(width: int = 1, height: int = 1) -> bytes:
    """``GS !`` with magnification 1..8 in each direction."""
    if not (1 <= width <= 8 and 1 <= height <= 8):
        raise ValueError(f"character magnification {width}x{height} is outside 1..8")
    return SIZE + bytes([(width - 1) << 4 | (height - 1)])


def feed(lines: int) -> bytes:
    if not 0 <= lines <= 255:
        raise ValueError(f"cannot feed {lines} lines (0..255)")
    return FEED_LINES + bytes([lines])


def cut(feed_units: int = 3) -> bytes:
    """Feed ``feed_units`` motion units past the cutter, then cut partially."""
    if not 0 <= feed_units <= 255:
        raise ValueError(f"cut feed {feed_units} is outside 0..255")
    return CUT + bytes([CUT_PARTIAL_AFTER_FEED, feed_units])


def text(s: str) -> bytes:
    """Encode a run of text; anything beyond ASCII goes as GB18030 inside ``FS &`` … ``FS .``."""
    if any(c in s for c in "\x1b\x1c\x1d\x10"):
        raise ValueError("text must not contain ESC/POS control characters")
    if s.isascii():
        return s.encode("ascii")
    return KANJI_ON + s.encode("gb18030") + KANJI_OFF


def line(s: str = "") -> bytes:
    return text(s) + LF


def _qr_fn(fn: int, params: bytes) -> bytes:
    n = len(params) + 2
    return QR + bytes([n & 0xFF, n >> 8, QR_CN, fn]) + params


def qr_model() -> bytes:
    return _qr_fn(QR_FN_MODEL, bytes([QR_MODEL_2, 0]))


def qr_size(dots: int) -> bytes:
    if not 1 <= dots <= 16:
        raise ValueError(f"QR module size {dots} is outside 1..16 dots")
    return _qr_fn(QR_FN_SIZE, bytes([dots]))


def qr_ecc(level: Literal["L", "M", "Q", "H"]) -> bytes:
    return _qr_fn(QR_FN_ECC, bytes([QR_ECC[level]]))


def qr_store(data: bytes) -> bytes:
    """Function 180: ``1D 28 6B pL pH 31 50 30 d1…dk`` with pL + pH·256 = k + 3."""
    if not 1 <= len(data) <= QR_MAX_DATA:
        raise ValueError(f"QR data of {len(data)} bytes is outside 1..{QR_MAX_DATA}")
    return _qr_fn(QR_FN_STORE, b"\x30" + data)


def qr_print() -> bytes:
    return _qr_fn(QR_FN_PRINT, b"\x30")


def qr(data: str, *, module: int = 6, ecc: Literal["L", "M", "Q", "H"] = "M") -> bytes:
    """The whole native QR sequence: model 2, module size, error correction, store, print."""
    return qr_model() + qr_size(module) + qr_ecc(ecc) + qr_store(data.encode("utf-8")) + qr_print()


def status_request(n: int) -> bytes:
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT n must be 1..4, not {n}")
    return STATUS + bytes([n])


# -- real-time status -------------------------------------------------------------
# Every status byte has bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0.
STATUS_MASK = 0x93
STATUS_FIXED = 0x12
ST1_OFFLINE = 0x08  # n=1 bit 3: offline
ST2_COVER_OPEN = 0x04  # n=2 bit 2: cover is open
ST2_FEED_BUTTON = 0x08  # n=2 bit 3: paper is being fed by the FEED button
ST2_PAPER_END_STOP = 0x20  # n=2 bit 5: printing stops because of a paper end
ST2_ERROR = 0x40  # n=2 bit 6: an error occurred
ST3_CUTTER = 0x08  # n=3 bit 3: autocutter error
ST3_UNRECOVERABLE = 0x20  # n=3 bit 5: unrecoverable error
ST3_AUTO_RECOVERABLE = 0x40  # n=3 bit 6: automatically recoverable error
ST4_NEAR_END = 0x0C  # n=4 bits 2,3: roll paper near-end sensor: paper near end
ST4_PAPER_END = 0x60  # n=4 bits 5,6: roll paper end sensor: paper not present


@dataclass(frozen=True)
class PrinterStatus:
    """What the four ``DLE EOT`` answers say, in the hall's words."""

    offline: bool = False
    cover_open: bool = False
    paper_out: bool = False
    paper_near_end: bool = False
    cutter_error: bool = False
    unrecoverable: bool = False

    @property
    def ready(self) -> bool:
        """True when a ticket can be printed now."""
        return not (self.offline or self.cover_open or self.paper_out or self.cutter_error or self.unrecoverable)

    @property
    def problems(self) -> list[str]:
        names = ["cover_open", "paper_out", "cutter_error", "unrecoverable", "offline", "paper_near_end"]
        return [n for n in names if getattr(self, n)]

    @property
    def reason(self) -> str:
        """The first problem that stops printing, else ``""``."""
        blocking = [p for p in self.problems if p != "paper_near_end"]
        return blocking[0] if blocking else ""


def check_status_byte(n: int, value: int) -> int:
    if value & STATUS_MASK != STATUS_FIXED:
        raise ProtocolError(f"DLE EOT {n} answer 0x{value:02x} is not a status byte (fixed bits wrong)")
    return value


def parse_status(answers: dict[int, int]) -> PrinterStatus:
    """Combine the answers to ``DLE EOT 1..4`` (missing ones count as no problem)."""
    st = {n: check_status_byte(n, v) for n, v in answers.items()}
    s1, s2, s3, s4 = (st.get(n, STATUS_FIXED) for n in (1, 2, 3, 4))
    return PrinterStatus(
        offline=bool(s1 & ST1_OFFLINE),
        cover_open=bool(s2 & ST2_COVER_OPEN),
        paper_out=bool(s4 & ST4_PAPER_END) or bool(s2 & ST2_PAPER_END_STOP),
        paper_near_end=bool(s4 & ST4_NEAR_END),
        cutter_error=bool(s3 & ST3_CUTTER),
        unrecoverable=bool(s3 & ST3_UNRECOVERABLE),
    )
