"""Readiness and watchdog for the service manager: systemd's ``sd_notify`` protocol, spoken by systemd and ``hall run``.

The protocol (``man sd_notify``): datagrams of newline-separated ``KEY=VALUE``
lines sent to the AF_UNIX socket that ``NOTIFY_SOCKET`` names (a path, or
``@name`` in the abstract namespace). A service says ``READY=1`` once it
serves, ``WATCHDOG=1`` from its main loop at least twice per ``WATCHDOG_USEC``,
and ``STOPPING=1`` when it leaves. A service whose pings stop is killed
(SIGABRT: faulthandler prints every thread's stack to the log) and restarted,
even though its process is alive.

The ping must prove that the loop doing the work goes round, so it is sent
by :func:`alive` called *from that loop* (the core's request loop, the devices
service's event loop), never from a thread of its own. :func:`alive` is cheap
and sends at most one datagram per quarter of the watchdog period::

    >>> n = Notifier(None, None)
    >>> n.enabled, n.ready("serving"), n.alive()
    (False, False, False)
    >>> Notifier("/run/x.sock", 2_000_000).ping_every
    0.5

Without ``NOTIFY_SOCKET`` every call does nothing, so a service run by hand
behaves as before. The variables are removed from the environment once read,
so the service's own child processes (camera workers) do not speak for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, MutableMapping

log = logging.getLogger("hall.notify")


class Notifier:
    """One service's link to its manager: ``NOTIFY_SOCKET`` and the watchdog period (µs), if any."""

    def __init__(
        self, address: str | None, watchdog_usec: int | None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.address = address
        self.watchdog_s = watchdog_usec / 1e6 if watchdog_usec else None
        self.ping_every = self.watchdog_s / 4 if self.watchdog_s else None
        self.clock = clock
        self._last_ping = float("-inf")
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None, *, unset: bool = True) -> Notifier:
        """Read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and ``WATCHDOG_PID`` (and remove them when ``unset``)."""
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec_text, pid_text = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if unset:
            for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
                env.pop(name, None)
        usec = int(usec_text) if usec_text.isdigit() and int(usec_text) > 0 else None
        if pid_text and pid_text != str(os.getpid()):
            usec = None  # the watchdog is another process's (sd_watchdog_enabled does the same)
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send one datagram; False when there is no manager or it cannot be reached (never raises)."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            log.debug("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The service serves now (``READY=1``, with ``MAINPID`` and an optional status line)."""
        self._last_ping = self.clock()
        lines = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            lines.append(f"STATUS={_one_line(status)}")
        if self.watchdog_s:
            lines.append("WATCHDOG=1")
        return self.send(*lines)

    def alive(self) -> bool:
        """Call from the service's main loop on every round: ``WATCHDOG=1`` when one is due."""
        if self.ping_every is None:
            return False
        now = self.clock()
        if now - self._last_ping < self.ping_every:
            return False
        self._last_ping = now
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


_process: Notifier | None = None


def notifier() -> Notifier:
    """This process's notifier, read from the environment on first use."""
    global _process
    if _process is None:
        _process = Notifier.from_env()
    return _process


def ready(status: str | None = None) -> bool:
    return notifier().ready(status)


def alive() -> bool:
    return notifier().alive()


def stopping() -> bool:
    return notifier().stopping()


def parse(datagram: bytes) -> dict[str, str]:
    """The fields of one notification, as a manager reads them.

    >>> parse(b"READY=1\\nSTATUS=serving hall h1\\nMAINPID=42")
    {'READY': '1', 'STATUS': 'serving hall h1', 'MAINPID': '42'}
    """
    fields: dict[str, str] = {}
    for line in datagram.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields
