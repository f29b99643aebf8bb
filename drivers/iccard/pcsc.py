"""PC/SC calls shared by the IC-card watcher: error translation, and reads that hold the card alone.

A card read is several commands (SELECT, SELECT, READ BINARY, GET RESPONSE)
that leave state on the card. When a second PC/SC client talks to the same
card in between (another program on the box, a technician's field check), each
read sends its commands into the other's file selection and both fail. So
every read runs inside ``SCardBeginTransaction`` … ``SCardEndTransaction``:
pcscd then holds the other clients' commands until the read is done.

pcsc-lite makes a client wait, without a time limit, in ``SCardConnect``,
``SCardBeginTransaction`` and ``SCardTransmit`` while another client holds a
transaction, and a wait in ``SCardConnect`` cannot be cancelled. So
:class:`ExclusiveReads` runs each read on a thread of its own with a PC/SC
context of its own, and the watcher waits for it at most ``lock_wait``
seconds: past that it raises :class:`~drivers.errors.CardBusy` naming the
reader, and the abandoned read ends its transaction and context by itself
once the other client lets go (or the card leaves)::

    reads = ExclusiveReads(lock_wait=5.0)
    account = reads.run("ACS ACR39U 00 00", lambda link: read_profile(link))
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from drivers.errors import CardBusy, CardRemoved, DeviceTimeout, DeviceUnavailable, ProtocolError
from drivers.iccard import apdu as ap

log = logging.getLogger(__name__)
T = TypeVar("T")
READ_TIMEOUT_S = 15.0
"""Longest a read may take once the card is ours (a real read takes well under a second)."""


class ServiceLost(Exception):
    """pcscd is gone or the context died: the caller drops its context and starts again."""


def scard() -> Any:
    from smartcard import scard as sc

    return sc


def check(hresult: int, what: str) -> None:
    """Translate a PC/SC result into the drivers' errors (or :class:`ServiceLost`)."""
    sc = scard()
    if hresult == sc.SCARD_S_SUCCESS:
        return
    message = f"{what}: {sc.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
    if hresult in (sc.SCARD_E_NO_SERVICE, sc.SCARD_E_SERVICE_STOPPED, sc.SCARD_E_INVALID_HANDLE, sc.SCARD_F_COMM_ERROR):
        raise ServiceLost(message)
    if hresult in (sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_RESET_CARD):
        raise CardRemoved(message)
    if hresult in (sc.SCARD_E_UNKNOWN_READER, sc.SCARD_E_READER_UNAVAILABLE):
        raise DeviceUnavailable(message)
    if hresult == sc.SCARD_E_SHARING_VIOLATION:  # another client connected to the card alone
        raise CardBusy(message)
    raise ProtocolError(message)


@dataclass(frozen=True)
class CardLink:
    """A connected card inside our transaction: send it commands."""

    reader: str
    handle: Any
    protocol: int

    def send(self, capdu: bytes) -> bytes:
        """One C-APDU to the card; its R-APDU as it came."""
        hresult, response = scard().SCardTransmit(self.handle, self.protocol, list(capdu))
        check(hresult, f"transmit {capdu[:4].hex(' ')}")
        return bytes(response)

    def transmit(self, capdu: bytes) -> tuple[bytes, int]:
        """Send one C-APDU, following 61xx and 6Cxx (:func:`~drivers.iccard.apdu.exchange`): data and status word."""
        return ap.exchange(self.send, capdu)


class _Read(Generic[T]):
    """One read's hand-over between its thread and the watcher."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.state = "waiting"  # → "ours" (transaction held) or "abandoned"; "done" at the end
        self.result: T | None = None
        self.error: BaseException | None = None

    def take(self) -> bool:
        """The transaction is ours: go on, unless the watcher stopped waiting."""
        with self.cond:
            if self.state == "abandoned":
                return False
            self.state = "ours"
            self.cond.notify_all()
            return True

    def finish(self) -> None:
        with self.cond:
            if self.state != "abandoned":
                self.state = "done"
            self.cond.notify_all()


class ExclusiveReads:
    """Reads that hold the card alone, each bounded by ``lock_wait`` seconds of waiting for other clients."""

    def __init__(self, lock_wait: float = 5.0, read_timeout: float = READ_TIMEOUT_S) -> None:
        self.lock_wait = lock_wait
        self.read_timeout = read_timeout
        self._pending: dict[str, threading.Thread] = {}

    def run(self, reader: str, work: Callable[[CardLink], T]) -> T:
        """Connect to the card in ``reader``, begin a transaction, run ``work``, end it; ``work``'s result."""
        busy = f"the card in {reader} is held by another PC/SC client for more than {self.lock_wait:g} s"
        waiting = self._pending.get(reader)
        if waiting is not None and waiting.is_alive():  # an earlier read still waits for the card
            raise CardBusy(busy)
        job: _Read[T] = _Read()
        thread = threading.Thread(target=self._work, args=(reader, work, job), name="iccard-read", daemon=True)
        self._pending[reader] = thread
        thread.start()
        with job.cond:
            if not job.cond.wait_for(lambda: job.state != "waiting", self.lock_wait):
                job.state = "abandoned"
                raise CardBusy(busy)
            if not job.cond.wait_for(lambda: job.state == "done", self.read_timeout):
                raise DeviceTimeout(f"reading the card in {reader} took more than {self.read_timeout:g} s")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _work(self, reader: str, work: Callable[[CardLink], T], job: _Read[T]) -> None:
        sc = scard()
        ctx = handle = None
        began = False
        try:
            hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
            if hresult != sc.SCARD_S_SUCCESS:
                ctx = None
            check(hresult, "cannot reach pcscd")
            # Both calls wait while another client holds a transaction on this card.
            hresult, handle, protocol = sc.SCardConnect(
                ctx, reader, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
            )
            if hresult != sc.SCARD_S_SUCCESS:
                handle = None
            check(hresult, f"connecting to the card in {reader}")
            check(sc.SCardBeginTransaction(handle), f"taking the card in {reader} for a read")
            began = True
            if job.take():
                job.result = work(CardLink(reader, handle, protocol))
            else:
                log.info("the card in %s was freed by the other client after the read gave up", reader)
        except BaseException as exc:  # handed to the watcher's thread, which raises it
            job.error = exc
        finally:
            if began:
                sc.SCardEndTransaction(handle, sc.SCARD_LEAVE_CARD)
            if handle is not None:
                sc.SCardDisconnect(handle, sc.SCARD_LEAVE_CARD)
            if ctx is not None:
                sc.SCardReleaseContext(ctx)
            job.finish()
