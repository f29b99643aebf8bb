"""The ID-card reader: a SAM module on a serial port, polled for cards.

:class:`IdCardReader` opens the port by URL (pyserial's ``serial_for_url``, so
``spy:///dev/ttyUSB0?file=/tmp/sam.log`` traces a port in the field) and runs
find → select → read. The select answer carries the card's serial number; a
card that stays on the reader is read once, and read again only after it left
(find answered "no card") or a different card came.

Nothing on the line stops the loop: noise, split frames and bad checksums are
skipped by the frame parser, a silent module times out, a vanished port is
closed and reopened with backoff, a card whose data does not decode is
refused with the field named, and each of these is counted in
:meth:`IdCardReader.health`. The port is opened for this process alone (a
second program opening it gets a clear error instead of stealing answers)::

    reader = IdCardReader("/dev/ttyUSB0", on_card=print)
    reader.run(stop_event)                    # until stop_event is set

:meth:`IdCardReader.step` is one round of that loop, for a
:class:`~drivers.base.UnitRunner` that restarts it after a failure nobody foresaw.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from drivers.base import Backoff, Health, HealthBoard, UnitRunner
from drivers.errors import CardDataError, DeviceTimeout, DeviceUnavailable, DriverError, ProtocolError
from drivers.idcard import frames as fr
from drivers.idcard.card import IdCard, decode_text

log = logging.getLogger(__name__)

COUNTERS = (
    "cards",
    "skipped_same_card",
    "garbage_bytes",
    "bad_checksum",
    "bad_length",
    "timeouts",
    "status_errors",
    "card_errors",
    "port_errors",
    "reopens",
)


class IdCardReader:
    """One SAM module on one port. ``on_card`` is called from the polling thread."""

    def __init__(
        self,
        url: str,
        *,
        on_card: Callable[[IdCard], None] | None = None,
        baudrate: int = 115200,
        timeout: float = 1.0,
        poll_interval: float = 0.3,
        backoff_max: float = 10.0,
    ) -> None:
        self.url = url
        self.on_card = on_card
        self.baudrate = baudrate
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.backoff = Backoff(0.2, backoff_max)
        self.board = HealthBoard(f"id-card reader {url}", COUNTERS, detail="not opened")
        self._port: Any = None
        self._parser = fr.FrameParser()
        self._last_serial: bytes | None = None
        self._timeouts = 0
        self._opened_before = False
        self._last_failure = ""  # why the last card could not be read, shown until a card is read
        self._lock = threading.Lock()

    # -- health ----------------------------------------------------------------

    def health(self) -> Health:
        with self._lock:
            parsed = {
                "garbage_bytes": self._parser.garbage,
                "bad_checksum": self._parser.bad_checksum,
                "bad_length": self._parser.bad_length,
            }
        return self.board.health(**parsed)

    # -- transport -------------------------------------------------------------

    def open(self) -> None:
        """Open the port for this process alone; raises :class:`DeviceUnavailable` naming the URL."""
        import serial

        self.close()
        try:
            self._port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=0.05, write_timeout=1.0, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            reason = str(exc)
            if "exclusively lock" in reason:
                reason = "the port is in use by another program (is hall devices running?)"
            self.board.set("offline", f"cannot open {self.url}: {reason}")
            raise DeviceUnavailable(f"cannot open ID-card reader port {self.url}: {reason}") from exc
        with self._lock:
            self._parser.reset()
        self._last_serial = None
        self.board.set("ok")

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a port that already vanished
                log.debug("closing %s failed", self.url, exc_info=True)
            # pyserial's spy:// handler leaves its trace file open; close it or every reopen leaks one.
            trace = getattr(getattr(port, "formatter", None), "output", None)
            if trace is not None and trace not in (sys.stdout, sys.stderr):
                trace.close()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def transact(self, cmd: tuple[int, int], data: bytes = b"") -> fr.Frame:
        """Send one command and return the module's answer frame.

        Raises :class:`DeviceTimeout` when no whole valid frame arrives within
        ``timeout`` and :class:`DeviceUnavailable` when the port fails (it is
        then closed; :meth:`run` reopens it).
        """
        import serial

        if self._port is None:
            raise DeviceUnavailable(f"ID-card reader port {self.url} is not open")
        port = self._port
        try:
            stale = port.read(port.in_waiting or 0) if port.in_waiting else b""
            with self._lock:
                self._parser.feed(stale)  # count leftovers as noise
                self._parser.reset()
            port.write(fr.encode_command(cmd, data))
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                chunk = port.read(max(1, port.in_waiting))
                if not chunk:
                    continue
                with self._lock:
                    got = self._parser.feed(chunk)
                if got:
                    return got[0]
        except (serial.SerialException, OSError) as exc:
            self.board.count("port_errors")
            self.close()
            self.board.set("offline", f"port {self.url} failed: {exc}")
            raise DeviceUnavailable(f"ID-card reader port {self.url} failed: {exc}") from exc
        self.board.count("timeouts")
        with self._lock:
            self._parser.reset()
        raise DeviceTimeout(f"SAM module on {self.url} did not answer {cmd[0]:02X} {cmd[1]:02X} in {self.timeout} s")

    # -- the read cycle --------------------------------------------------------

    def poll_once(self) -> IdCard | None:
        """One find → select → read cycle; the card, or None (no card, or the same card still there)."""
        found = self.transact(fr.CMD_FIND)
        if found.sw3 == fr.SW3_NO_CARD:
            self._last_serial = None
            return None
        if found.sw3 != fr.SW3_FOUND:
            self.board.count("status_errors")
            raise ProtocolError(f"find card answered {found.status}")
        selected = self.transact(fr.CMD_SELECT)
        if selected.sw3 != fr.SW3_OK:
            self.board.count("status_errors")
            raise ProtocolError(f"select card answered {selected.status}")
        serial_no = selected.data
        if serial_no and serial_no == self._last_serial:
            self.board.count("skipped_same_card")
            return None
        answer = self.transact(fr.CMD_READ)
        if answer.sw3 != fr.SW3_OK:
            self.board.count("status_errors")
            raise ProtocolError(f"read card answered {answer.status}")
        try:
            payload = fr.split_read_payload(answer.data)
        except ProtocolError:
            self.board.count("status_errors")
            raise
        try:
            card = decode_text(payload.text, payload.photo)
        except CardDataError:
            self.board.count("card_errors")
            self._last_serial = serial_no or None  # do not re-read a bad card every poll
            raise
        self._last_serial = serial_no or None
        self.board.count("cards")
        return card

    def read_card(self, timeout: float) -> IdCard:
        """Open if needed and wait up to ``timeout`` seconds for a card (for field checks)."""
        deadline = time.monotonic() + timeout
        if not self.is_open:
            self.open()
        self._last_serial = None
        while True:
            try:
                card = self.poll_once()
            except DeviceTimeout:
                card = None
            if card is not None:
                return card
            if time.monotonic() >= deadline:
                raise DeviceTimeout(f"no card was placed on the reader at {self.url} within {timeout} s")
            time.sleep(self.poll_interval)

    def step(self) -> float:
        """One round of the polling loop: (re)open the port, poll, hand on a card; the seconds to wait."""
        if not self.is_open:
            try:
                self.open()
            except DeviceUnavailable:
                return self.backoff.next()
            self.backoff.reset()
            if self._opened_before:
                self.board.count("reopens")
            self._opened_before = True
        try:
            card = self.poll_once()
            self._timeouts = 0
            if card is not None:
                self._last_failure = ""
            self.board.set("ok", self._last_failure)
        except DeviceTimeout:
            self._timeouts += 1
            card = None
            if self._timeouts >= 3:
                self.board.set("degraded", f"SAM module on {self.url} is not answering")
        except DeviceUnavailable:
            return 0.0
        except DriverError as exc:
            log.warning("id-card read failed: %s", exc)
            self._last_failure = f"last read failed: {exc}"
            self.board.set("ok", self._last_failure)
            card = None
        if card is not None and self.on_card is not None:
            try:
                self.on_card(card)
            except Exception:
                log.exception("handling an ID card failed")
        return self.poll_interval

    def runner(self, name: str = "idcard") -> UnitRunner:
        """A :class:`UnitRunner` of :meth:`step` that closes the port after a failure and at the end."""
        return UnitRunner(name, self.step, self.board, reset=self.close, close=self.close)

    def run(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set, in this thread; never raises. Reopens the port with backoff."""
        self.runner().run(stop)
