"""The SAM module's serial frames (GA 467 "居民身份证验证安全控制模块接口技术规范").

Every frame starts with the preamble ``AA AA AA 96 69`` (three sync bytes and a
two-byte frame start), then a big-endian length that counts every byte after
itself, then the body, then a checksum: the XOR of the length and body bytes.

A command body is ``CMD PARA [DATA]``; a response body is ``SW1 SW2 SW3
[DATA]``, where SW1 SW2 are the card's status words relayed by the module and
SW3 is the module's own status::

    >>> encode_command(CMD_FIND).hex(" ")
    'aa aa aa 96 69 00 03 20 01 22'
    >>> parser = FrameParser()
    >>> [f.sw3 for f in parser.feed(bytes.fromhex("aaaaaa9669000400009f9b"))]
    [159]

The parser is incremental: feed it whatever the port returned (garbage,
half a frame, three frames) and it yields whole frames, skipping noise and
frames with a bad checksum, and counting both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.errors import ProtocolError

PREAMBLE = b"\xaa\xaa\xaa\x96\x69"
"""Frame header: sync ``AA AA AA`` and frame start ``96 69``."""
HEADER_LEN = len(PREAMBLE) + 2
"""Preamble plus the two length bytes."""
MAX_BODY = 0x0FFF
"""Longest body a module sends (text + photo + fingerprint is 0x0A08); longer lengths are noise."""

# Commands as (CMD, PARA).
CMD_RESET = (0x10, 0xFF)
"""复位 SAM (reset the module)."""
CMD_STATUS = (0x11, 0xFF)
"""状态检测 (module self-check)."""
CMD_SAM_ID = (0x12, 0xFF)
"""读 SAM 编号 (module serial number)."""
CMD_FIND = (0x20, 0x01)
"""寻找证/卡 (find a card in the field)."""
CMD_SELECT = (0x20, 0x02)
"""选取证/卡 (select the card found)."""
CMD_READ = (0x30, 0x01)
"""读基本信息: text (256 bytes) and photo (1024 bytes WLT)."""
CMD_READ_FP = (0x30, 0x10)
"""读基本信息 + 指纹 (text, photo and fingerprint)."""

# SW3, the module's status byte (SW1 SW2 are 00 00 for all but card-level errors).
SW3_OK = 0x90
SW3_FOUND = 0x9F
SW3_NO_CARD = 0x80
SW3_NAMES: dict[int, str] = {
    0x10: "checksum error in the command received by the module",
    0x11: "length error in the command received by the module",
    0x21: "command not accepted (bad value or order)",
    0x23: "out of range",
    0x24: "unrecognised error",
    0x31: "card failed to authenticate the module",
    0x32: "module failed to authenticate the card",
    0x33: "information check failed",
    0x37: "card data read failed",
    0x40: "wrong card type",
    0x41: "reading the card failed",
    0x47: "getting a random number failed",
    0x60: "module self-check failed",
    0x66: "module not authorised",
    SW3_NO_CARD: "no card found",
    0x81: "selecting the card failed",
    SW3_OK: "ok",
    0x91: "card has no such content",
    SW3_FOUND: "card found",
}

TEXT_LEN = 256
"""Text block of a resident ID card: UCS-2 LE, fixed fields."""
PHOTO_LEN = 1024
"""Photo block: WLT (vendor-compressed), kept opaque."""


def checksum(data: bytes) -> int:
    """XOR of ``data`` (the length and body bytes of a frame)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def encode_frame(body: bytes) -> bytes:
    """Wrap a body (command or response) into a frame: preamble, length, body, checksum."""
    if len(body) + 1 > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes is too long")
    length = (len(body) + 1).to_bytes(2, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def encode_command(cmd: tuple[int, int], data: bytes = b"") -> bytes:
    """A host→module frame: ``encode_command(CMD_READ)``."""
    return encode_frame(bytes(cmd) + data)


def encode_response(sw3: int, data: bytes = b"", sw1: int = 0, sw2: int = 0) -> bytes:
    """A module→host frame (used by the simulated module and in tests)."""
    return encode_frame(bytes((sw1, sw2, sw3)) + data)


@dataclass(frozen=True)
class Frame:
    """A whole frame whose checksum matched; ``body`` excludes length and checksum."""

    body: bytes

    @property
    def sw1(self) -> int:
        return self.body[0] if len(self.body) > 0 else 0

    @property
    def sw2(self) -> int:
        return self.body[1] if len(self.body) > 1 else 0

    @property
    def sw3(self) -> int:
        return self.body[2] if len(self.body) > 2 else 0

    @property
    def data(self) -> bytes:
        """The bytes after SW1 SW2 SW3 (a response's payload)."""
        return self.body[3:]

    @property
    def status(self) -> str:
        return SW3_NAMES.get(self.sw3, f"unknown status {self.sw1:02X} {self.sw2:02X} {self.sw3:02X}")


@dataclass
class FrameParser:
    """Incremental frame parser; counts what it had to throw away.

    ``garbage`` counts bytes skipped while looking for a preamble,
    ``bad_checksum`` frames dropped for a checksum mismatch, ``bad_length``
    lengths that could not be a frame (then the parser resynchronises one byte
    further on).
    """

    buffer: bytearray = field(default_factory=bytearray)
    garbage: int = 0
    bad_checksum: int = 0
    bad_length: int = 0

    def reset(self) -> None:
        """Forget a partial frame (after a timeout the rest will never come)."""
        self.garbage += len(self.buffer)
        self.buffer.clear()

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes from the port and return the whole frames now complete."""
        self.buffer += data
        frames: list[Frame] = []
        while True:
            start = self.buffer.find(PREAMBLE)
            if start < 0:
                # Keep a tail that may be the start of a preamble split across reads.
                keep = _preamble_prefix(self.buffer)
                self._skip(len(self.buffer) - keep)
                return frames
            self._skip(start)
            if len(self.buffer) < HEADER_LEN:
                return frames
            length = int.from_bytes(self.buffer[5:7], "big")
            if length < 1 or length > MAX_BODY:
                self.bad_length += 1
                self._skip(1)
                continue
            end = HEADER_LEN + length
            if len(self.buffer) < end:
                return frames
            covered = bytes(self.buffer[5 : end - 1])
            if checksum(covered) != self.buffer[end - 1]:
                self.bad_checksum += 1
                self._skip(1)
                continue
            frames.append(Frame(bytes(self.buffer[HEADER_LEN : end - 1])))
            del self.buffer[:end]

    def _skip(self, count: int) -> None:
        if count > 0:
            self.garbage += count
            del self.buffer[:count]


def _preamble_prefix(buffer: bytearray) -> int:
    """Length of the longest suffix of ``buffer`` that is a proper prefix of the preamble."""
    for size in range(min(len(PREAMBLE) - 1, len(buffer)), 0, -1):
        if buffer.endswith(PREAMBLE[:size]):
            return size
    return 0


@dataclass(frozen=True)
class ReadPayload:
    """The data of a successful read: text block, photo block, optional fingerprint."""

    text: bytes
    photo: bytes
    fingerprint: bytes = b""


def split_read_payload(data: bytes) -> ReadPayload:
    """Split a read response's data: ``text_len(2) photo_len(2) [fp_len(2)] text photo [fp]``.

    Lengths are big-endian. Raises :class:`~drivers.errors.ProtocolError` when
    the declared lengths do not add up to the data received.
    """
    if len(data) < 4:
        raise ProtocolError(f"read response data is {len(data)} bytes, too short for the length fields")
    text_len = int.from_bytes(data[0:2], "big")
    photo_len = int.from_bytes(data[2:4], "big")
    if 4 + text_len + photo_len == len(data):
        return ReadPayload(data[4 : 4 + text_len], data[4 + text_len :])
    if len(data) >= 6:
        fp_len = int.from_bytes(data[4:6], "big")
        if 6 + text_len + photo_len + fp_len == len(data):
            text_end = 6 + text_len
            return ReadPayload(data[6:text_end], data[text_end : text_end + photo_len], data[text_end + photo_len :])
    raise ProtocolError(
        f"read response declares text {text_len} and photo {photo_len} bytes but carries {len(data) - 4} bytes"
    )


def encode_read_payload(text: bytes, photo: bytes) -> bytes:
    """The data of a read response (for the simulated module)."""
    return len(text).to_bytes(2, "big") + len(photo).to_bytes(2, "big") + text + photo
