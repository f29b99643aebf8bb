"""The ticket printer: ESC/POS over any transport, and the unit the devices service runs.

:class:`Printer` speaks the protocol (status, print) over a
:class:`~drivers.printer.transport.Transport`. :class:`PrinterUnit` prints
``ticket.issued`` tickets of the configured channels on its own thread and
publishes ``printer.printed`` or, when the printer cannot print,
``printer.failed`` (the ticket stands; the kiosk shows the number instead).
The core's UTC issue time is printed in the hall's time zone. Text that
cannot go to paper (control characters in a business name from a bundle) is
left out of the ticket, so one odd name never stops the printer.
Its status is read every ``status_interval`` seconds, so paper out or a cover
left open is a ``fault`` that clears by itself when the paper is back. A
printer that goes away is ``offline`` and reopened with backoff.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from drivers.base import Backoff, Health, HealthBoard, HealthState, Publish, UnitRunner
from drivers.errors import DeviceTimeout, DriverError
from drivers.printer import escpos, ticket
from drivers.printer.transport import Transport, open_transport, read_exact

log = logging.getLogger("hall.devices.printer")


class StatusUnanswered(DeviceTimeout):
    """The printer took the status request and answered nothing at all (not even to ``DLE EOT 1``)."""


StatusMode = Literal["auto", "yes", "no"]
NO_STATUS = "no status: the printer does not answer DLE EOT; printing without paper checks"


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
                kind = StatusUnanswered if n == 1 else DeviceTimeout
                raise kind(f"printer {self.transport.url} did not answer DLE EOT {n}")
            answers[n] = got[0]
        return escpos.parse_status(answers)

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        self.transport.close()


# The kiosk's fault types as the slip names them.
KINDS = {"no_power": "家中停电", "flicker": "电压不稳 / 灯光闪烁", "meter": "电表故障", "line": "线路断落 / 冒火"}


def _what(data: dict[str, Any]) -> dict[str, Any]:
    """What ``printer.printed`` / ``printer.failed`` name: the ticket, or the repair report's slip."""
    if data.get("_slip"):
        return {"repair": data.get("reference", "")}
    return {"ticket_id": data.get("id", ""), "number": data.get("number", "")}


class PrinterUnit:
    """``DeviceUnit`` + ``EventConsumer`` for one ticket printer."""

    topics: tuple[str, ...] = ("ticket.issued", "repair.reported")

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
        status: StatusMode = "auto",
        status_tries: int = 3,
        status_timeout: float = 1.0,
        probe_s: float = 60.0,
        opener: Callable[[str], Transport] = open_transport,
    ) -> None:
        self.name = name
        self.url = url
        self.layout = layout
        self.hall_name = hall_name
        self.timezone = timezone
        self.channels = channels
        self.status_interval = status_interval
        self.status_mode = status
        self.status_tries = status_tries
        self.status_timeout = status_timeout
        self.probe_s = probe_s
        self.opener = opener
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=200)
        self.board = HealthBoard(
            f"printer {name}", ("printed", "failed", "reopened", "errors"), detail="not opened yet"
        )
        self.runner = UnitRunner(
            f"printer:{name}", self._step, self.board, reset=self._close, close=self._close, wake=self._wake
        )
        self._printer: Printer | None = None
        self._publish: Publish | None = None
        self.backoff = Backoff(0.2, 10.0)
        self._answered = False  # the printer answered a status request since the unit started
        self._unanswered = 0  # status requests in a row it took and left unanswered, before it ever answered
        self._blind = status == "no"  # printing without asking: configured so, or found out ("auto")
        self._probe_at = 0.0

    # -- DeviceUnit ---------------------------------------------------------------
    def start(self, publish: Publish) -> None:
        self._publish = publish
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    def health(self) -> Health:
        return self.runner.checked(self.board.health())

    # -- EventConsumer ------------------------------------------------------------
    def on_event(self, env: dict[str, Any]) -> None:
        data = env.get("data") or {}
        if env.get("topic") == "repair.reported":  # the customer's slip, whichever channel took the report
            data = {**data, "_slip": True}
        elif env.get("topic") != "ticket.issued" or data.get("channel", "kiosk") not in self.channels:
            return
        try:
            self.jobs.put_nowait(data)
        except queue.Full:
            self._failed(data, "queue_full")

    # -- internals ----------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self.jobs.put_nowait(None)
        except queue.Full:  # the step in progress ends after its job; the runner then sees the stop
            pass

    def _set(self, state: HealthState, detail: str) -> None:
        self.board.set(state, detail)

    def _emit(self, topic: str, data: dict[str, Any]) -> None:
        if self._publish is not None:
            self._publish(topic, data, durable=False)

    def _failed(self, data: dict[str, Any], reason: str) -> str:
        self.board.count("failed")
        self._emit("printer.failed", {**_what(data), "reason": reason})
        return reason

    def _open(self) -> Printer | None:
        if self._printer is not None:
            return self._printer
        try:
            self._printer = Printer(self.opener(self.url), status_timeout=self.status_timeout)
        except (DriverError, ValueError) as exc:
            self._set("offline", str(exc))
            return None
        if self.board.counter("errors"):
            self.board.count("reopened")
        self.backoff.reset()
        return self._printer

    def _close(self) -> None:
        if self._printer is not None:
            self._printer.close()
            self._printer = None

    def _lost(self, exc: DriverError) -> None:
        log.warning("printer %s lost: %s", self.name, exc)
        self.board.count("errors")
        self._set("offline", str(exc))
        self._close()

    def _check(self) -> escpos.PrinterStatus | None:
        """Refresh health from the printer; None when it cannot be reached.

        With ``status = "no"`` it is never asked. With ``"auto"``, a printer that has not answered since the
        unit started and leaves ``status_tries`` requests in a row unanswered, while it takes the bytes, is
        one without real-time status: ``degraded`` ("no status"), printed to without asking, and asked again
        every ``probe_s`` in case it was only switched off. Once it has answered, silence means it is gone.
        """
        printer = self._open()
        if printer is None:
            return None
        if self._blind and (self.status_mode == "no" or time.monotonic() < self._probe_at):
            return self._without_status()
        try:
            st = printer.status()
        except StatusUnanswered as exc:
            if self.status_mode != "auto" or self._answered:
                self._lost(exc)
                return None
            self._unanswered += 1
            if not self._blind and self._unanswered < self.status_tries:
                self._lost(exc)
                return None
            if not self._blind:
                log.warning("printer %s: %d status requests unanswered; printing without status", self.name,
                            self._unanswered)  # fmt: skip
            self._blind = True
            self._probe_at = time.monotonic() + self.probe_s
            return self._without_status()
        except DriverError as exc:
            self._lost(exc)
            return None
        if st is not None and (self._blind or not self._answered):
            if self._blind:
                log.info("printer %s answers its status now", self.name)
            self._answered, self._blind, self._unanswered = True, False, 0
        if st is None:
            self._set("ok", "status not readable on this transport")
        elif not st.ready:
            self._set("fault", ", ".join(st.problems))
        elif st.paper_near_end:
            self._set("degraded", "paper_near_end")
        else:
            self._set("ok", "")
        return st or escpos.PrinterStatus()

    def _without_status(self) -> escpos.PrinterStatus:
        if self.status_mode == "no":
            self._set("ok", 'status not asked (status = "no"): paper out is not seen')
        else:
            self._set("degraded", NO_STATUS)
        return escpos.PrinterStatus()

    def _step(self) -> float:
        st = self._check()
        wait = self.status_interval if st is not None else self.backoff.next()
        try:
            job = self.jobs.get(timeout=wait)
        except queue.Empty:
            return 0.0
        if job is not None:
            failed = self._print(job)
            done = job.get("_done")
            if callable(done):
                done(failed)
        return 0.0

    def test_print(self, request: str, timeout: float = 30.0) -> str | None:
        """Print a test ticket through the unit's own queue (between customers' tickets): None when it printed,
        else why not (``paper_out``, ``offline``…)."""
        finished = threading.Event()
        outcome: list[str | None] = []

        def done(failed: str | None) -> None:
            outcome.append(failed)
            finished.set()

        job = {
            "id": f"test-{request}",
            "number": "T000",
            "business_name": "打印测试 TEST",
            "issued_at": datetime.now(UTC).isoformat(),
            "_done": done,
        }
        try:
            self.jobs.put(job, timeout=timeout)
        except queue.Full:
            return "queue_full"
        if not finished.wait(timeout):
            return "timeout"
        return outcome[0]

    def _print(self, data: dict[str, Any]) -> str | None:
        """Print one ticket; None when printed, else the reason it was not (also sent as ``printer.failed``)."""
        try:
            raw = self._slip(data) if data.get("_slip") else ticket.render(self._ticket_data(data), self.layout)
        except ValueError as exc:  # nothing the printer can do about it: the ticket stands, the kiosk shows it
            log.error("ticket %s cannot be printed: %s", data.get("number"), exc)
            return self._failed(data, "unprintable")
        st = self._check()
        if st is None:
            return self._failed(data, "offline")
        if not st.ready:
            return self._failed(data, st.reason)
        assert self._printer is not None
        try:
            self._printer.write(raw)
        except DriverError as exc:
            self._lost(exc)
            return self._failed(data, "offline")
        after = self._check()
        if after is not None and not after.ready:
            return self._failed(data, after.reason)
        self.board.count("printed")
        self._emit("printer.printed", _what(data))
        return None

    def _slip(self, data: dict[str, Any]) -> bytes:
        from drivers.printer import slip
        from edge.schemas.repair import mask_phone

        when = str(data.get("reported_at") or "")
        try:
            when = datetime.fromisoformat(when).astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            when = when[:16]
        where = data.get("address") or data.get("supply_point") or data.get("area") or ""
        return slip.render(
            slip.SlipData(
                hall=paper_text(self.hall_name),
                reference=paper_text(str(data.get("reference", ""))),
                kind=paper_text(KINDS.get(str(data.get("kind")), str(data.get("kind", "")))),
                phone_masked=mask_phone(str(data.get("phone", ""))),
                where=paper_text(str(where)),
                time=paper_text(when),
            ),
            self.layout,
        )

    def _ticket_data(self, data: dict[str, Any]) -> ticket.TicketData:
        issued = str(data.get("issued_at") or "")
        try:
            when = datetime.fromisoformat(issued).astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            when = issued[:16]
        return ticket.TicketData(
            hall=paper_text(self.hall_name),
            business=paper_text(str(data.get("business_name") or data.get("business") or "")),
            number=paper_text(str(data.get("number", ""))),
            people_ahead=_count(data.get("people_ahead")),
            wait_minutes=_minutes(data.get("wait_minutes")),
            time=paper_text(when),
            priority=str(data.get("priority", "normal")),
            ticket_id=str(data.get("id", "")),
            counters_open=_minutes(data.get("counters_open")),
            wait_after_opening=_minutes(data.get("wait_minutes_after_opening")),
        )


def paper_text(text: str) -> str:
    """``text`` without what cannot be printed: control characters (ESC/POS commands) and lone surrogates.

    >>> paper_text("电费\x1b缴纳" + chr(0xD800))
    '电费缴纳'
    """
    return "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cs"))


def _count(value: Any) -> int:
    """A whole number from the ticket's data, 0 when it is missing or not a number."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError, OverflowError):
        return 0


def _minutes(value: Any) -> int | None:
    """A whole number (minutes, counters) from the ticket's data; None when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return max(0, int(value))
    except (TypeError, ValueError, OverflowError):
        return None
