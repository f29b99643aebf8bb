"""PC/SC card watcher: readers come and go, cards are inserted and removed.

:class:`IcCardWatcher` talks to pcscd through pyscard's ``smartcard.scard``
(the PC/SC C API one to one). It keeps one PC/SC context, lists the readers
whose name matches a pattern, waits for state changes with
``SCardGetStatusChange``, and on each inserted card runs the
:class:`~drivers.iccard.config.ApduProfile` to read the account number::

    watcher = IcCardWatcher(profile, on_card=lambda reader, account: ...,
                            on_removed=lambda reader: ...)
    watcher.run(stop_event)

pcscd stopping, a reader unplugged and a card pulled mid-read are reported in
:meth:`IcCardWatcher.health` and counted; the watcher re-establishes its
context with backoff and carries on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from drivers.base import Backoff, Health, HealthState
from drivers.errors import CardDataError, CardRemoved, DeviceUnavailable, DriverError, ProtocolError
from drivers.iccard import apdu as ap
from drivers.iccard.config import ApduProfile

log = logging.getLogger(__name__)

COUNTERS = ("cards", "removed", "removed_mid_read", "read_errors", "card_errors", "service_losses", "reader_losses")


class _Service(Exception):
    """pcscd is gone or our context died: drop the context and start again."""


def _scard() -> Any:
    from smartcard import scard

    return scard


class IcCardWatcher:
    """Watches every PC/SC reader whose name matches ``reader_pattern``."""

    def __init__(
        self,
        profile: ApduProfile,
        *,
        reader_pattern: str = ".*",
        on_card: Callable[[str, str], None] | None = None,
        on_removed: Callable[[str], None] | None = None,
        poll_interval: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.profile = profile
        self.pattern = re.compile(reader_pattern)
        self.on_card = on_card
        self.on_removed = on_removed
        self.poll_interval = poll_interval
        self.backoff_max = backoff_max
        self._ctx: Any = None
        self._states: dict[str, int] = {}
        self._present: dict[str, int] = {}  # reader -> pcscd's card event count when the card was seen
        self._retries: dict[str, int] = {}  # reader -> reads left for a card still present after a failed read
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._state: HealthState = "offline"
        self._detail = "not started"
        self._lock = threading.Lock()

    # -- health ----------------------------------------------------------------

    def health(self) -> Health:
        with self._lock:
            return Health(self._state, self._detail, dict(self._counts))

    def _count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def _set(self, state: HealthState, detail: str = "") -> None:
        with self._lock:
            if (state, detail) != (self._state, self._detail):
                log.info("IC-card readers: %s %s", state, detail)
            self._state, self._detail = state, detail

    @property
    def readers(self) -> list[str]:
        """The matching readers seen at the last check."""
        return sorted(self._states)

    # -- PC/SC -----------------------------------------------------------------

    def _check(self, hresult: int, what: str) -> None:
        sc = _scard()
        if hresult == sc.SCARD_S_SUCCESS:
            return
        message = f"{what}: {sc.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"
        if hresult in (
            sc.SCARD_E_NO_SERVICE,
            sc.SCARD_E_SERVICE_STOPPED,
            sc.SCARD_E_INVALID_HANDLE,
            sc.SCARD_F_COMM_ERROR,
        ):
            raise _Service(message)
        if hresult in (sc.SCARD_W_REMOVED_CARD, sc.SCARD_E_NO_SMARTCARD, sc.SCARD_W_RESET_CARD):
            raise CardRemoved(message)
        if hresult in (sc.SCARD_E_UNKNOWN_READER, sc.SCARD_E_READER_UNAVAILABLE):
            raise DeviceUnavailable(message)
        raise ProtocolError(message)

    def _connect_service(self) -> None:
        sc = _scard()
        hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        self._check(hresult, "cannot reach pcscd")
        self._ctx = ctx
        self._states = {}

    def _release(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            try:
                _scard().SCardReleaseContext(ctx)
            except Exception:
                log.debug("releasing the PC/SC context failed", exc_info=True)

    def _list_readers(self) -> list[str]:
        sc = _scard()
        hresult, names = sc.SCardListReaders(self._ctx, [])
        if hresult in (sc.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        self._check(hresult, "listing readers")
        return [name for name in names if self.pattern.search(name)]

    def _wait_changes(self, timeout: float) -> list[tuple[str, int]]:
        sc = _scard()
        query = [(name, state) for name, state in self._states.items()]
        if not query:
            return []
        hresult, result = sc.SCardGetStatusChange(self._ctx, int(timeout * 1000), query)
        if hresult == sc.SCARD_E_TIMEOUT:
            return []
        self._check(hresult, "waiting for card events")
        return [(name, state) for name, state, _atr in result]

    def transmit(self, card: Any, protocol: int, capdu: bytes) -> tuple[bytes, int]:
        """Send one C-APDU; follows 61xx (GET RESPONSE) and 6Cxx (resend with Le)."""
        sc = _scard()
        for _ in range(8):
            hresult, response = sc.SCardTransmit(card, protocol, list(capdu))
            self._check(hresult, f"transmit {capdu[:4].hex(' ')}")
            if len(response) < 2:
                raise ProtocolError(f"card answered {len(response)} bytes to {capdu[:4].hex(' ')}")
            data, sw = bytes(response[:-2]), (response[-2] << 8) | response[-1]
            if sw >> 8 == 0x61:
                capdu = ap.get_response(sw & 0xFF)
                continue
            if sw >> 8 == 0x6C:
                capdu = capdu[:4] + bytes((sw & 0xFF,))
                continue
            return data, sw
        raise ProtocolError("card kept asking for more exchanges")

    def read_account(self, reader: str) -> str:
        """Connect to the card in ``reader`` and run the profile; the account number."""
        sc = _scard()
        hresult, card, protocol = sc.SCardConnect(
            self._ctx, reader, sc.SCARD_SHARE_SHARED, sc.SCARD_PROTOCOL_T0 | sc.SCARD_PROTOCOL_T1
        )
        self._check(hresult, f"connecting to the card in {reader}")
        try:
            reads: list[bytes] = []
            for step in self.profile.steps:
                command = ap.step_apdu(step)
                data, sw = self.transmit(card, protocol, command)
                if sw != ap.SW_OK and not (step.read_length is not None and sw == 0x6282):
                    raise CardDataError(
                        f"profile {self.profile.name!r}: {command[:4].hex(' ')} answered {sw:04X} ({ap.sw_name(sw)})"
                    )
                if step.read_length is not None:
                    reads.append(data)
            return ap.decode_account(reads, self.profile.account)
        finally:
            sc.SCardDisconnect(card, sc.SCARD_LEAVE_CARD)

    # -- the loop --------------------------------------------------------------

    def poll(self, timeout: float) -> bool:
        """Refresh the reader list, wait up to ``timeout`` for changes, handle them.

        Returns False when no reader matches (the caller waits before asking again).
        """
        sc = _scard()
        if self._ctx is None:
            self._connect_service()
        names = self._list_readers()
        for gone in set(self._states) - set(names):
            self._count("reader_losses")
            del self._states[gone]
            self._retries.pop(gone, None)
            if self._present.pop(gone, None) is not None:
                self._removed(gone)
        for new in set(names) - set(self._states):
            self._states[new] = sc.SCARD_STATE_UNAWARE
        if not self._states:
            self._set("offline", f"no PC/SC reader matches {self.pattern.pattern!r}")
            return False
        self._set("ok", f"{len(self._states)} reader(s)")
        retry = [name for name, left in self._retries.items() if left > 0 and name in self._present]
        for name, state in self._wait_changes(timeout):
            if name not in self._states:
                continue
            self._states[name] = state & ~sc.SCARD_STATE_CHANGED
            present = bool(state & sc.SCARD_STATE_PRESENT) and not state & sc.SCARD_STATE_MUTE
            events = (state >> 16) & 0xFFFF  # pcscd counts insertions and removals here
            seen = self._present.get(name)
            if seen is not None and (not present or seen != events):
                del self._present[name]  # gone, or swapped for another card between two checks
                self._retries.pop(name, None)
                self._removed(name)
            if present and name not in self._present:
                self._present[name] = events
                self._retries[name] = 0 if self._inserted(name) else 2
        for name in retry:
            # A card still present after a failed exchange (a bad contact, a quick swap) gets two more tries.
            if name in self._present and self._retries.get(name, 0) > 0:
                self._retries[name] -= 1
                if self._inserted(name):
                    self._retries[name] = 0
        return True

    def _inserted(self, reader: str) -> bool:
        """Read the card in ``reader``; False when the read failed but may work if tried again."""
        try:
            account = self.read_account(reader)
        except CardRemoved as exc:
            self._count("removed_mid_read")
            log.warning("card left %s during the read: %s", reader, exc)
            return True
        except ProtocolError as exc:
            # vpcd and some readers report a card pulled mid-command as a failed transmit.
            if self._card_absent(reader):
                self._count("removed_mid_read")
                log.warning("card left %s during the read: %s", reader, exc)
                return True
            self._count("read_errors")
            log.warning("reading the card in %s failed: %s", reader, exc)
            return False
        except CardDataError as exc:
            self._count("card_errors")
            log.warning("card in %s: %s", reader, exc)
            return True
        self._count("cards")
        if self.on_card is not None:
            self.on_card(reader, account)
        return True

    def _card_absent(self, reader: str, wait: float = 2.0) -> bool:
        """After a failed exchange: has the card gone? pcscd notices within its polling period."""
        sc = _scard()
        hresult, result = sc.SCardGetStatusChange(self._ctx, 0, [(reader, sc.SCARD_STATE_UNAWARE)])
        if hresult != sc.SCARD_S_SUCCESS:
            return True
        state = result[0][1] & ~sc.SCARD_STATE_CHANGED
        if state & sc.SCARD_STATE_PRESENT:
            hresult, result = sc.SCardGetStatusChange(self._ctx, int(wait * 1000), [(reader, state)])
            if hresult == sc.SCARD_E_TIMEOUT:
                return False
            if hresult != sc.SCARD_S_SUCCESS:
                return True
            state = result[0][1]
        return not state & sc.SCARD_STATE_PRESENT

    def _removed(self, reader: str) -> None:
        self._count("removed")
        if self.on_removed is not None:
            self.on_removed(reader)

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set; never raises."""
        backoff = Backoff(0.2, self.backoff_max)
        while not stop.is_set():
            try:
                if not self.poll(self.poll_interval):
                    stop.wait(self.poll_interval)
                backoff.reset()
            except _Service as exc:
                if self._ctx is not None:
                    self._count("service_losses")
                self._release()
                for name in list(self._present):
                    del self._present[name]
                    self._removed(name)
                self._states = {}
                self._retries = {}
                self._set("offline", f"pcscd unreachable: {exc}")
                stop.wait(backoff.next())
            except DriverError as exc:
                self._set("degraded", str(exc))
                stop.wait(self.poll_interval)
            except Exception:
                log.exception("IC-card watcher failed; carrying on")
                self._set("degraded", "internal error, see the log")
                stop.wait(self.poll_interval)
        self._release()
