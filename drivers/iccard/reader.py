"""PC/SC card watcher: readers come and go, cards are inserted and removed.

:class:`IcCardWatcher` talks to pcscd through pyscard's ``smartcard.scard``
(the PC/SC C API one to one). It keeps one PC/SC context, lists the readers
whose name matches a pattern, waits for state changes with
``SCardGetStatusChange``, and on each inserted card runs the
:class:`~drivers.iccard.config.ApduProfile` to read the account number, inside
a PC/SC transaction so that another client's commands cannot land between its
steps (:mod:`drivers.iccard.pcsc`)::

    watcher = IcCardWatcher(profile, on_card=lambda reader, account: ...,
                            on_removed=lambda reader: ...)
    watcher.run(stop_event)

pcscd stopping, a reader unplugged, a card pulled mid-read and a card held by
another program are reported in :meth:`IcCardWatcher.health` and counted; the
watcher re-establishes its context with backoff, tries a card that is still
there again, and carries on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from drivers.base import Backoff, Health, HealthBoard, UnitRunner
from drivers.errors import CardBusy, CardDataError, CardRemoved, DriverError, ProtocolError
from drivers.iccard import apdu as ap
from drivers.iccard.config import ApduProfile
from drivers.iccard.pcsc import CardLink, ExclusiveReads, ServiceLost, check, scard

log = logging.getLogger(__name__)

COUNTERS = (
    "cards",
    "removed",
    "removed_mid_read",
    "read_errors",
    "card_errors",
    "busy",
    "service_losses",
    "reader_losses",
)
RETRIES = 2
"""Further reads of a card still present after a failed read (a bad contact, a quick swap)."""


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
        lock_wait: float = 5.0,
    ) -> None:
        self.profile = profile
        self.pattern = re.compile(reader_pattern)
        self.on_card = on_card
        self.on_removed = on_removed
        self.poll_interval = poll_interval
        self.backoff = Backoff(0.2, backoff_max)
        self.board = HealthBoard("IC-card readers", COUNTERS)
        self.reads = ExclusiveReads(lock_wait)
        self._ctx: Any = None
        self._states: dict[str, int] = {}
        self._present: dict[str, int] = {}  # reader -> pcscd's card event count when the card was seen
        self._retries: dict[str, int] = {}  # reader -> reads left for a card still present after a failed read
        self._busy: dict[str, str] = {}  # reader -> why its card could not be read (held by another client)

    # -- health ----------------------------------------------------------------

    def health(self) -> Health:
        return self.board.health()

    @property
    def readers(self) -> list[str]:
        """The matching readers seen at the last check."""
        return sorted(self._states)

    # -- PC/SC -----------------------------------------------------------------

    def _connect_service(self) -> None:
        sc = scard()
        hresult, ctx = sc.SCardEstablishContext(sc.SCARD_SCOPE_USER)
        check(hresult, "cannot reach pcscd")
        self._ctx = ctx
        self._states = {}

    def _release(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            try:
                scard().SCardReleaseContext(ctx)
            except Exception:
                log.debug("releasing the PC/SC context failed", exc_info=True)

    def _list_readers(self) -> list[str]:
        sc = scard()
        hresult, names = sc.SCardListReaders(self._ctx, [])
        if hresult in (sc.SCARD_E_NO_READERS_AVAILABLE,):
            return []
        check(hresult, "listing readers")
        return [name for name in names if self.pattern.search(name)]

    def _wait_changes(self, timeout: float) -> list[tuple[str, int]]:
        sc = scard()
        query = [(name, state) for name, state in self._states.items()]
        if not query:
            return []
        hresult, result = sc.SCardGetStatusChange(self._ctx, int(timeout * 1000), query)
        if hresult == sc.SCARD_E_TIMEOUT:
            return []
        check(hresult, "waiting for card events")
        return [(name, state) for name, state, _atr in result]

    def read_account(self, reader: str) -> str:
        """Run the profile on the card in ``reader``, holding the card alone; the account number.

        Raises :class:`~drivers.errors.CardBusy` when another PC/SC client holds the card longer than
        ``lock_wait`` seconds.
        """
        return self.reads.run(reader, self._run_profile)

    def _run_profile(self, link: CardLink) -> str:
        return ap.run_profile(self.profile, link.send)

    # -- the loop --------------------------------------------------------------

    def poll(self, timeout: float) -> bool:
        """Refresh the reader list, wait up to ``timeout`` for changes, handle them.

        Returns False when no reader matches (the caller waits before asking again).
        """
        sc = scard()
        if self._ctx is None:
            self._connect_service()
        names = self._list_readers()
        for gone in set(self._states) - set(names):
            self.board.count("reader_losses")
            del self._states[gone]
            self._forget(gone)
            if self._present.pop(gone, None) is not None:
                self._removed(gone)
        for new in set(names) - set(self._states):
            self._states[new] = sc.SCARD_STATE_UNAWARE
        if not self._states:
            self.board.set("offline", f"no PC/SC reader matches {self.pattern.pattern!r}")
            return False
        retry = [name for name in self._retries if name in self._present]
        for name, state in self._wait_changes(timeout):
            if name not in self._states:
                continue
            self._states[name] = state & ~sc.SCARD_STATE_CHANGED
            present = bool(state & sc.SCARD_STATE_PRESENT) and not state & sc.SCARD_STATE_MUTE
            events = (state >> 16) & 0xFFFF  # pcscd counts insertions and removals here
            seen = self._present.get(name)
            if seen is not None and (not present or seen != events):
                del self._present[name]  # gone, or swapped for another card between two checks
                self._forget(name)
                self._removed(name)
            if present and name not in self._present:
                self._present[name] = events
                self._read(name, fresh=True)
        for name in retry:
            if name in self._present and name in self._retries:
                self._read(name, fresh=False)
        if self._busy:
            self.board.set("degraded", next(iter(self._busy.values())))
        else:
            self.board.set("ok", f"{len(self._states)} reader(s)")
        return True

    def _read(self, reader: str, *, fresh: bool) -> None:
        """Read the card in ``reader`` and decide whether to try it again while it stays."""
        outcome = self._inserted(reader)
        if outcome == "done":
            self._forget(reader)
        elif outcome == "busy":  # tried again on every poll until it is free or gone
            self._retries.setdefault(reader, RETRIES)
        else:
            left = RETRIES if fresh else self._retries.get(reader, 0) - 1
            self._busy.pop(reader, None)
            if left > 0:
                self._retries[reader] = left
            else:
                self._retries.pop(reader, None)

    def _forget(self, reader: str) -> None:
        self._retries.pop(reader, None)
        self._busy.pop(reader, None)

    def _inserted(self, reader: str) -> str:
        """Read the card in ``reader``: ``done`` (read, or not worth trying again), ``retry`` or ``busy``."""
        try:
            account = self.read_account(reader)
        except CardBusy as exc:
            self.board.count("busy")
            log.warning("%s", exc)
            self._busy[reader] = str(exc)
            return "busy"
        except CardRemoved as exc:
            self.board.count("removed_mid_read")
            log.warning("card left %s during the read: %s", reader, exc)
            return "done"
        except ProtocolError as exc:
            # vpcd and some readers report a card pulled mid-command as a failed transmit.
            if self._card_absent(reader):
                self.board.count("removed_mid_read")
                log.warning("card left %s during the read: %s", reader, exc)
                return "done"
            self.board.count("read_errors")
            log.warning("reading the card in %s failed: %s", reader, exc)
            return "retry"
        except CardDataError as exc:
            self.board.count("card_errors")
            log.warning("card in %s: %s", reader, exc)
            return "done"
        self.board.count("cards")
        if self.on_card is not None:
            self.on_card(reader, account)
        return "done"

    def _card_absent(self, reader: str, wait: float = 2.0) -> bool:
        """After a failed exchange: has the card gone? pcscd notices within its polling period."""
        sc = scard()
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
        self.board.count("removed")
        if self.on_removed is not None:
            self.on_removed(reader)

    def reset(self) -> None:
        """Drop the context and every card seen (each reported removed); the next poll starts afresh."""
        self._release()
        for name in list(self._present):
            del self._present[name]
            self._removed(name)
        self._states = {}
        self._retries = {}
        self._busy = {}

    def step(self) -> float:
        """One round of the watch; the seconds to wait before the next."""
        try:
            if not self.poll(self.poll_interval):
                return self.poll_interval
        except ServiceLost as exc:
            if self._ctx is not None:
                self.board.count("service_losses")
            self.reset()
            self.board.set("offline", f"pcscd unreachable: {exc}")
            return self.backoff.next()
        except DriverError as exc:
            self.board.set("degraded", str(exc))
            return self.poll_interval
        self.backoff.reset()
        return 0.0

    def runner(self, name: str = "iccard") -> UnitRunner:
        """A :class:`UnitRunner` of :meth:`step` that starts afresh after a failure and releases pcscd at the end."""
        return UnitRunner(name, self.step, self.board, reset=self.reset, close=self._release)

    def run(self, stop: threading.Event) -> None:
        """Watch until ``stop`` is set, in this thread; never raises."""
        self.runner().run(stop)
