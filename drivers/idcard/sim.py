"""A simulated SAM module on the far end of a pseudo-terminal.

:class:`SamModule` opens a pty, answers the real frames a host sends to the
slave side, and is scripted like the hardware: place a card, take it away,
pull the cable, go silent, send noise, split or corrupt its next answer::

    module = SamModule().start()
    reader = IdCardReader(module.url)       # the pty's stable path
    module.place(SimCard(resident_text("张三", "11010519491231002X")))

The path (``module.url``) is a symlink to the current pty, like a udev
``/dev/serial/by-id`` link: :meth:`SamModule.unplug` closes the pty and removes
the link, :meth:`SamModule.replug` opens a fresh pty behind the same path.
"""

from __future__ import annotations

import contextlib
import os
import select
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path

from drivers.idcard import frames as fr

PHOTO_MAGIC = b"WLT"  # a stand-in photo block; the host keeps it opaque anyway


def _field(value: str, width: int) -> bytes:
    raw = value.encode("utf-16-le")
    if len(raw) > width:
        raise ValueError(f"{value!r} does not fit in {width} bytes")
    return raw + " ".encode("utf-16-le") * ((width - len(raw)) // 2)


def resident_text(
    name: str,
    number: str,
    *,
    sex: str = "1",
    nation: str = "01",
    birth: str = "19900307",
    address: str = "北京市东城区正义路1号",
    issuer: str = "北京市公安局东城分局",
    valid_from: str = "20200101",
    valid_to: str = "20400101",
) -> bytes:
    """A resident ID card's 256-byte text block (GA 450 layout)."""
    parts = (
        (name, 30),
        (sex, 2),
        (nation, 4),
        (birth, 16),
        (address, 70),
        (number, 36),
        (issuer, 30),
        (valid_from, 16),
        (valid_to, 16),
        ("", 36),
    )
    return b"".join(_field(v, w) for v, w in parts)


def foreign_text(
    name_en: str,
    number: str,
    *,
    name: str = "",
    sex: str = "1",
    nationality: str = "USA",
    birth: str = "19800101",
    valid_from: str = "20200101",
    valid_to: str = "20300101",
    card_type: str = "I",
) -> bytes:
    """A 2017 foreign permanent-resident card's text block (type ``I``)."""
    parts = (
        (name_en, 120),
        (sex, 2),
        (number, 30),
        (nationality, 6),
        (name, 30),
        (valid_from, 16),
        (valid_to, 16),
        (birth, 16),
        ("01", 4),
        ("1100", 8),
        (card_type, 2),
        ("", 6),
    )
    return b"".join(_field(v, w) for v, w in parts)


def gat_text(
    name: str,
    number: str,
    *,
    sex: str = "2",
    birth: str = "19850520",
    address: str = "广东省深圳市福田区福中路1号",
    issuer: str = "深圳市公安局",
    valid_from: str = "20200101",
    valid_to: str = "20250101",
    pass_number: str = "H12345678",
    issue_count: str = "01",
) -> bytes:
    """A Hong Kong/Macau/Taiwan residence permit's text block (type ``J``)."""
    parts = (
        (name, 30),
        (sex, 2),
        ("", 4),
        (birth, 16),
        (address, 70),
        (number, 36),
        (issuer, 30),
        (valid_from, 16),
        (valid_to, 16),
        (pass_number, 18),
        (issue_count, 4),
        ("", 6),
        ("J", 2),
        ("", 6),
    )
    return b"".join(_field(v, w) for v, w in parts)


@dataclass
class SimCard:
    """A card on the simulated reader: its text block, photo and serial (answered to select)."""

    text: bytes
    photo: bytes = PHOTO_MAGIC + bytes(fr.PHOTO_LEN - len(PHOTO_MAGIC))
    serial: bytes = field(default_factory=lambda: os.urandom(8))
    reads: int = 0


class SamModule:
    """The simulated module. Thread-safe scripting; ``commands`` records every (CMD, PARA) answered."""

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = Path(directory or tempfile.mkdtemp(prefix="sam-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self.path = self._dir / "ttySAM"
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._master: int | None = None
        self._slave: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.card: SimCard | None = None
        self.silent = False
        self.commands: list[tuple[int, int]] = []
        self._split_next = 0
        self._corrupt_next = 0
        self._close_on: tuple[int, int] | None = None
        self._remove_on: tuple[int, int] | None = None

    @property
    def url(self) -> str:
        return str(self.path)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> SamModule:
        self._open_pty()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sam-module", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._close_pty()

    def unplug(self) -> None:
        """The cable is pulled: the pty closes and its path disappears."""
        with self._lock:
            self._close_pty()

    def replug(self) -> None:
        """The cable is back: a fresh pty behind the same path."""
        with self._lock:
            self._open_pty()

    def set_state(self, *, unplugged: bool | None = None) -> None:
        """The demo's remote control (``device.simulate``): pull the cable or put it back."""
        if unplugged is None:
            return
        with self._lock:
            if unplugged and self._master is not None:
                self._close_pty()
            elif not unplugged and self._master is None:
                self._open_pty()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._master, self._slave = master, slave
        tmp = self.path.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)

    def _close_pty(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    # -- scripting -------------------------------------------------------------

    def place(self, card: SimCard) -> SimCard:
        with self._lock:
            self.card = card
        return card

    def remove(self) -> None:
        with self._lock:
            self.card = None

    def inject(self, data: bytes) -> None:
        """Send bytes unasked (line noise)."""
        with self._lock:
            if self._master is not None:
                os.write(self._master, data)

    def split_next(self, count: int = 1) -> None:
        """Send the next ``count`` answers in small pieces with pauses between them."""
        with self._lock:
            self._split_next += count

    def corrupt_next(self, count: int = 1) -> None:
        """Flip the checksum of the next ``count`` answers."""
        with self._lock:
            self._corrupt_next += count

    def unplug_on(self, cmd: tuple[int, int]) -> None:
        """Pull the cable the next time ``cmd`` arrives, after half its answer was sent."""
        with self._lock:
            self._close_on = cmd

    def remove_on(self, cmd: tuple[int, int]) -> None:
        """Take the card away the next time ``cmd`` arrives, before it is answered (pulled mid-read)."""
        with self._lock:
            self._remove_on = cmd

    def wait_for(self, cmd: tuple[int, int], count: int = 1, timeout: float = 5.0) -> bool:
        """Wait until ``cmd`` has been answered ``count`` times in total."""
        with self._changed:
            return self._changed.wait_for(lambda: self.commands.count(cmd) >= count, timeout)

    # -- the module ------------------------------------------------------------

    def _run(self) -> None:
        parser = fr.FrameParser()
        while not self._stop.is_set():
            master = self._master
            if master is None:
                self._stop.wait(0.05)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except OSError:
                # The pty went away (unplugged) or has no reader: wait for a replug.
                parser = fr.FrameParser()
                self._stop.wait(0.05)
                continue
            for frame in parser.feed(data):
                self._answer(frame, master)

    def _answer(self, frame: fr.Frame, master: int) -> None:
        cmd = (frame.body[0], frame.body[1]) if len(frame.body) >= 2 else (0, 0)
        with self._lock:
            if self.silent:
                return
            if self._remove_on == cmd:
                self._remove_on = None
                self.card = None
            reply = self._reply(cmd)
            split, corrupt = self._split_next > 0, self._corrupt_next > 0
            self._split_next -= split
            self._corrupt_next -= corrupt
            close = self._close_on == cmd
            if close:
                self._close_on = None
        if corrupt:
            reply = reply[:-1] + bytes([reply[-1] ^ 0xFF])
        try:
            if close:
                os.write(master, reply[: len(reply) // 2])
                self.unplug()
            elif split:
                step = max(1, len(reply) // 4)
                for i in range(0, len(reply), step):
                    os.write(master, reply[i : i + step])
                    time.sleep(0.02)  # the module's own pacing between pieces
            else:
                os.write(master, reply)
        except OSError:
            return
        with self._changed:
            self.commands.append(cmd)
            self._changed.notify_all()

    def _reply(self, cmd: tuple[int, int]) -> bytes:
        card = self.card
        if cmd == fr.CMD_FIND:
            if card is None:
                return fr.encode_response(fr.SW3_NO_CARD)
            return fr.encode_response(fr.SW3_FOUND, bytes(4))
        if cmd == fr.CMD_SELECT:
            if card is None:
                return fr.encode_response(0x81)
            return fr.encode_response(fr.SW3_OK, card.serial)
        if cmd == fr.CMD_READ:
            if card is None:
                return fr.encode_response(0x41)
            card.reads += 1
            return fr.encode_response(fr.SW3_OK, fr.encode_read_payload(card.text, card.photo))
        if cmd in (fr.CMD_RESET, fr.CMD_STATUS):
            return fr.encode_response(fr.SW3_OK)
        if cmd == fr.CMD_SAM_ID:
            return fr.encode_response(fr.SW3_OK, bytes(16))
        return fr.encode_response(0x21)


DEMO_CARDS = (
    ("张三", "11010519491231002X", "1", "19491231"),
    ("李四", "110101199003071233", "2", "19900307"),
    ("王五", "440306195010104567", "1", "19501010"),
)
"""Demo holders (numbers with valid check digits, not real people)."""


def run_demo(module: SamModule, stop: threading.Event, *, every: float = 20.0, dwell: float = 3.0) -> None:
    """For ``hall demo``: place a demo card every ``every`` seconds for ``dwell`` seconds, until ``stop``."""
    turn = 0
    while not stop.wait(every):
        name, number, sex, birth = DEMO_CARDS[turn % len(DEMO_CARDS)]
        module.place(SimCard(resident_text(name, number, sex=sex, birth=birth)))
        turn += 1
        if stop.wait(dwell):
            break
        module.remove()
