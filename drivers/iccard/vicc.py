"""A virtual electricity purchase card for vsmartcard's ``vpcd`` reader driver.

pcscd loads ``libifdvpcd.so`` (Debian ``vsmartcard-vpcd``), which listens on a
TCP port (35963 for the first slot, see ``/etc/reader.conf.d/vpcd``) for a
virtual card. :class:`VirtualCard` connects to it: connecting is inserting the
card, closing the socket is removing it. Every message is a 2-byte big-endian
length and a payload; a 1-byte payload is a control code (0 power off, 1 power
on, 2 reset, 4 send the ATR), anything longer a C-APDU to answer with an
R-APDU::

    card = VirtualCard(ElectricityCard("0012345678")).insert()
    ...                                   # pcscd now shows a card in "Virtual PCD 00 00"
    card.remove()

:class:`ElectricityCard` is a small ISO 7816-4 file system (MF, one DF by AID,
transparent EFs) answering SELECT, READ BINARY and GET RESPONSE with real
status words (6A82 file not found, 6B00 offset outside the EF, ...).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from drivers.iccard import apdu as ap

VPCD_PORT = 35963
CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4
ATR = bytes.fromhex("3b0214 50".replace(" ", ""))
"""TS=3B (direct convention), T0=02 (two historical bytes, T=0 implied), historical 14 50."""

MF = "3F00"
DF_AID = "D15600000501"
DF_FID = "DF01"
EF_CUSTOMER = "0015"


def customer_file(account: str, name: str = "") -> bytes:
    """The example customer EF: account BCD (10 bytes, F padded), then the name in GB18030 (22 bytes)."""
    digits = account + "F" * (20 - len(account))
    return bytes.fromhex(digits) + name.encode("gb18030").ljust(22, b"\x00")


@dataclass
class ElectricityCard:
    """A card's files: EF id → bytes inside one DF; the DF is reachable by AID or FID."""

    account: str
    files: dict[str, bytes] = field(default_factory=dict)
    _current_df: str | None = None
    _current_ef: str | None = None
    _pending: bytes = b""

    def __post_init__(self) -> None:
        self.files.setdefault(EF_CUSTOMER, customer_file(self.account))

    def reset(self) -> None:
        self._current_df = self._current_ef = None
        self._pending = b""

    def answer(self, capdu: bytes) -> bytes:
        if len(capdu) < 4:
            return b"\x67\x00"
        cla, ins, p1, p2 = capdu[:4]
        body = capdu[5 : 5 + capdu[4]] if len(capdu) > 5 else b""
        if cla != ap.CLA:
            return b"\x6e\x00"
        if ins == ap.INS_SELECT:
            return self._select(p1, body)
        if ins == ap.INS_READ_BINARY:
            le = capdu[4] if len(capdu) == 5 else 0
            return self._read(p1, p2, le or 256)
        if ins == ap.INS_GET_RESPONSE:
            out, self._pending = self._pending, b""
            return out + b"\x90\x00" if out else b"\x6a\x86"
        return b"\x6d\x00"

    def _select(self, p1: int, body: bytes) -> bytes:
        if p1 == ap.P1_SELECT_AID:
            if body.hex().upper() != DF_AID:
                return b"\x6a\x82"
            self._current_df, self._current_ef = DF_FID, None
            # File control information is left for GET RESPONSE, as T=0 cards do.
            self._pending = bytes.fromhex("6f0a8406") + bytes.fromhex(DF_AID)
            return bytes((0x61, len(self._pending)))
        fid = body.hex().upper()
        if p1 != ap.P1_SELECT_FID or len(body) != 2:
            return b"\x6a\x86"
        if fid == MF:
            self._current_df, self._current_ef = MF, None
        elif fid == DF_FID:
            self._current_df, self._current_ef = DF_FID, None
        elif fid in self.files and self._current_df == DF_FID:
            self._current_ef = fid
        else:
            return b"\x6a\x82"
        return b"\x90\x00"

    def _read(self, p1: int, p2: int, le: int) -> bytes:
        if p1 & 0x80:
            return b"\x6a\x81"  # short-EF reads are not implemented by this card
        if self._current_ef is None:
            return b"\x69\x86"
        data = self.files[self._current_ef]
        offset = (p1 << 8) | p2
        if offset >= len(data):
            return b"\x6b\x00"
        chunk = data[offset : offset + le]
        return chunk + (b"\x62\x82" if len(chunk) < le else b"\x90\x00")


class VirtualCard:
    """The socket link to vpcd. ``apdus`` records every C-APDU answered (tests wait on it).

    ``delay_s`` makes a slow card: it thinks that long before each answer (old cards at low clock rates
    take tens of milliseconds per command), which leaves room for a second client's commands in between.
    """

    def __init__(
        self, card: ElectricityCard, *, host: str = "127.0.0.1", port: int = VPCD_PORT, delay_s: float = 0.0
    ) -> None:
        self.card = card
        self.host, self.port = host, port
        self.delay_s = delay_s
        self.apdus: list[bytes] = []
        self.remove_on_ins: int | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self.powered = False

    def insert(self, timeout: float = 5.0) -> VirtualCard:
        """Connect to vpcd (the card enters the reader)."""
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(None)
        self.card.reset()
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="vicc", daemon=True)
        self._thread.start()
        return self

    def remove(self) -> None:
        """Close the link (the card leaves the reader)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    @property
    def inserted(self) -> bool:
        return self._sock is not None

    def wait_apdus(self, count: int, timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.apdus) >= count, timeout)

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                head = _recv_exact(sock, 2)
                if head is None:
                    return
                (size,) = struct.unpack(">H", head)
                payload = _recv_exact(sock, size)
                if payload is None:
                    return
                reply = self._handle(payload)
                if reply is None:
                    continue
                if reply == b"":  # scripted removal mid-command
                    self._sock = None
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                    return
                sock.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            return

    def _handle(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            code = payload[0]
            if code == CTRL_ATR:
                return ATR
            if code in (CTRL_ON, CTRL_RESET):
                self.powered = True
                self.card.reset()
            elif code == CTRL_OFF:
                self.powered = False
            return None
        if self.remove_on_ins is not None and len(payload) > 1 and payload[1] == self.remove_on_ins:
            self.remove_on_ins = None
            return b""
        if self.delay_s:
            time.sleep(self.delay_s)  # the card's own processing time
        reply = self.card.answer(payload)
        with self._changed:
            self.apdus.append(payload)
            self._changed.notify_all()
        return reply


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)
