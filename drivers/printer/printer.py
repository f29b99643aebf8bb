"""The ticket printer: ESC/POS over any transport, and the unit the devices service runs.

:class:`Printer` speaks the protocol (status, print) over a
:class:`~drivers.printer.transport.Transport`. :class:`PrinterUnit` prints
``ticket.issued`` tickets of the configured channels on its own thread and
publishes ``printer.printed`` or, when the printer cannot print,
``printer.failed`` (the ticket stands; the kiosk shows the number instead).
The core's UTC issue time is printed in the hall's time zone.
A printer that goes away is reopened with backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from drivers.base import Backoff, Health, Publish
from drivers.errors import DeviceTimeout, DriverError
from drivers.printer import escpos, ticket
from drivers.printer.transport import Transport, open_transport, read_exact

log = logging.getLogger("hall.devices.printer")


class Printer:
    """ESC/POS on one transport::

    printer = Printer(open_transport("tcp://192.168.1.50:9100"))
    if printer.status().ready:
        printer.write(ticket.render(data, layout))
    """

    def __init__(self, transport: Transport, *, status_timeout: float = 1.0) -> None:
        self.transport = transport
        self.status_timeout = status_timeout

    def status(self) -> escpos.PrinterStatus | None:
        """Ask ``DLE EOT 1..4``; None when the transport cannot read back (file)."""
        if not self.transport.readable:
            return None
        self.transport.drain()
        answers: dict[int, int] = {}
        for n in (1, 2, 3, 4):
            self.transport.write(escpos.status_request(n))
            got = read_exact(self.transport, 1, self.status_timeout)
            if not got:
                raise DeviceTimeout(f"printer {self.transport.url} did not answer DLE EOT {n}")
            answers[n] = got[0]
        return escpos.parse_status(answers)

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()


class PrinterUnit:
    """``DeviceUnit`` + ``EventConsumer`` for one ticket printer."""

    topics: tuple[str, ...] = ("ticket.issued",)

    def __init__(
        self,
        name: str,
        url: str,
        layout: ticket.Layout,
        *,
        hall_name: str,
        timezone: str = "Asia/Shanghai",
        channels: tuple[str, ...] = ("kiosk",),
        status_interval: float = 5.0,
        opener: Callable[[str], Transport] = open_transport,
    ) -> None:
        self.name = name
        self.url = url
        self.layout = layout
        self.hall_name = hall_name
        self.timezone = timezone
        self.channels = channels
        self.status_interval = status_interval
        self.opener = opener
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=200)
        self.counters = {"printed": 0, "failed": 0, "reopened": 0, "errors": 0}
        self._health = Health("offline", "not opened yet")
        self._printer: Printer | None = None
        self._publish: Publish | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.backoff = Backoff(0.2, 10.0)

    # -- DeviceUnit ---------------------------------------------------------------
    def start(self, publish: Publish) -> None:
        self._publish = publish
        self._thread = threading.Thread(target=self._run, name=f"printer:{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.jobs.put(None)
        if self._thread is not None:
            self._thread.join(10)
        self._close()

    def health(self) -> Health:
        with self._lock:
            return Health(self._health.state, self._health.detail, dict(self.counters))

    # -- EventConsumer ------------------------------------------------------------
    def on_event(self, env: dict[str, Any]) -> None:
        data = env.get("data") or {}
        if env.get("topic") != "ticket.issued" or data.get("channel", "kiosk") not in self.channels:
            return
        try:
            self.jobs.put_nowait(data)
        except queue.Full:
            self._failed(data, "queue_full")

    # -- internals ----------------------------------------------------------------
    def _set(self, state: Any, detail: str) -> None:
        with self._lock:
            self._health = Health(state, detail)

    def _emit(self, topic: str, data: dict[str, Any]) -> None:
        if self._publish is not None:
            self._publish(topic, data, durable=False)

    def _failed(self, data: dict[str, Any], reason: str) -> None:
        self.counters["failed"] += 1
        self._emit(
            "printer.failed", {"ticket_id": data.get("id", ""), "number": data.get("number", ""), "reason": reason}
        )

    def _open(self) -> Printer | None:
        if self._printer is not None:
            return self._printer
        try:
            self._printer = Printer(self.opener(self.url))
        except (DriverError, ValueError) as exc:
            self._set("offline", str(exc))
            return None
        if self.counters["errors"]:
            self.counters["reopened"] += 1
        self.backoff.reset()
        return self._printer

    def _close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None

    def _lost(self, exc: DriverError) -> None:
        log.warning("printer %s lost: %s", self.name, exc)
        self.counters["errors"] += 1
        self._set("offline", str(exc))
        self._close()

    def _check(self) -> escpos.PrinterStatus | None:
        """Refresh health from the printer; None when it cannot be reached."""
        printer = self._open()
        if printer is None:
            return None
        try:
            st = printer.status()
        except DriverError as exc:
            self._lost(exc)
            return None
        if st is None:
            self._set("ok", "status not readable on this transport")
        elif not st.ready:
            self._set("fault", ", ".join(st.problems))
        elif st.paper_near_end:
            self._set("degraded", "paper_near_end")
        else:
            self._set("ok", "")
        return st or escpos.PrinterStatus()

    def _run(self) -> None:
        while not self._stop.is_set():
            st = self._check()
            wait = self.status_interval if st is not None else self.backoff.next()
            try:
                job = self.jobs.get(timeout=wait)
            except queue.Empty:
                continue
            if job is None:
                break
            self._print(job)

    def _print(self, data: dict[str, Any]) -> None:
        st = self._check()
        if st is None:
            self._failed(data, "offline")
            return
        if not st.ready:
            self._failed(data, st.reason)
            return
        raw = ticket.render(self._ticket_data(data), self.layout)
        assert self._printer is not None
        try:
            self._printer.write(raw)
        except DriverError as exc:
            self._lost(exc)
            self._failed(data, "offline")
            return
        after = self._check()
        if after is not None and not after.ready:
            self._failed(data, after.reason)
            return
        self.counters["printed"] += 1
        self._emit("printer.printed", {"ticket_id": data.get("id", ""), "number": data.get("number", "")})

    def _ticket_data(self, data: dict[str, Any]) -> ticket.TicketData:
        issued = str(data.get("issued_at") or "")
        try:
            when = datetime.fromisoformat(issued).astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            when = issued[:16]
        return ticket.TicketData(
            hall=self.hall_name,
            business=str(data.get("business_name") or data.get("business") or ""),
            number=str(data.get("number", "")),
            people_ahead=int(data.get("people_ahead") or 0),
            wait_minutes=int(data.get("wait_minutes") or 0),
            time=when,
            priority=str(data.get("priority", "normal")),
            ticket_id=str(data.get("id", "")),
        )
