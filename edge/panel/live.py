"""Live feed for browsers: bus events fanned out to server-sent-event streams.

One thread reads the bus (``Subscriber``) and hands each event, stripped of
customer hashes, to every connected browser's queue on the server's event
loop. A second thread ships the audit trail to the hall log as durable
``audit.recorded`` events, retrying until the core takes them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from edge.bus import BusClient, Subscriber
from edge.errors import BusError, HallError
from edge.panel.accounts import Store

log = logging.getLogger("hall.panel")

PREFIXES = (
    "ticket.",
    "counter.",
    "alert.",
    "evaluation.",
    "day.",
    "vip.arrived",
    "staff.requested",
    "device.health",
    "door.crossed",
    "seat.presence",
    "sync.status",
    "emotion.",
    "heatmap.",
    "form.",
    "record.signed",
    "pad.correction_requested",
)
NOTICES = ("vip.arrived", "staff.requested")
ANSWERS = ("face.audit.listed",)  # answers to the panel's own questions: never passed to browsers


def redact(value: Any) -> Any:
    """A copy without customer hashes (browsers see masked forms only)."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if k not in ("hash", "customer_hash")}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Answers:
    """Events that answer a question the panel asked by request id (``face.audit.requested`` → ``face.audit.listed``)."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.waiting: dict[str, dict[str, Any] | None] = {}

    def expect(self, request: str) -> None:
        with self.lock:
            self.waiting[request] = None

    def deliver(self, data: dict[str, Any]) -> None:
        with self.lock:
            request = str(data.get("request", ""))
            if request in self.waiting:
                self.waiting[request] = data
                self.lock.notify_all()

    def wait(self, request: str, timeout: float) -> dict[str, Any] | None:
        """The answer to ``request`` (expected before it was asked), or None after ``timeout`` seconds."""
        with self.lock:
            self.lock.wait_for(lambda: self.waiting.get(request) is not None, timeout)
            return self.waiting.pop(request, None)


class Feed:
    def __init__(self, queue_size: int = 500) -> None:
        self.answers = Answers()
        self.clients: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self.lock = threading.Lock()
        self.notices: deque[dict[str, Any]] = deque(maxlen=30)
        self.queue_size = queue_size
        self.stop = threading.Event()
        self.received = 0

    def attach(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        with self.lock:
            self.clients.add((asyncio.get_running_loop(), q))
        return q

    def detach(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        with self.lock:
            self.clients = {c for c in self.clients if c[1] is not q}

    def dispatch(self, env: dict[str, Any]) -> None:
        data = env["data"]
        if env["topic"] == "record.signed":  # a signed record is large (strokes): browsers get its summary
            data = {k: data.get(k) for k in ("id", "n", "day", "counter", "digest", "ticket", "form")}
            data["form"] = {k: (data["form"] or {}).get(k) for k in ("id", "title")}
        item = {"topic": env["topic"], "ts": env["ts"], "source": env["source"], "data": redact(data)}
        if env["topic"] in NOTICES:
            self.notices.appendleft(item)
        self.received += 1
        with self.lock:
            clients = list(self.clients)
        for loop, q in clients:
            loop.call_soon_threadsafe(_offer, q, item)

    def run(self, prefixes: tuple[str, ...] = PREFIXES) -> None:
        with Subscriber((*prefixes, *ANSWERS)) as sub:
            while not self.stop.is_set():
                env = sub.recv(timeout=0.5)
                if env is None:
                    continue
                if env["topic"] in ANSWERS:
                    self.answers.deliver(env["data"])
                else:
                    self.dispatch(env)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="panel-feed", daemon=True)
        thread.start()
        return thread


def _offer(q: asyncio.Queue[dict[str, Any]], item: dict[str, Any]) -> None:
    try:
        q.put_nowait(item)
    except asyncio.QueueFull:
        pass  # a stalled browser misses events; it reloads state on its next refresh


class AuditShipper:
    """Publishes unpublished audit rows as durable ``audit.recorded`` events, in order.

    A row the core refuses for good (too large, malformed) is marked refused and
    reported in the panel's log: it stays in panel.db and never holds back the
    rows after it. Rows are cut to a size the bus takes before they are sent.
    """

    def __init__(self, store: Store, bus: BusClient) -> None:
        self.store = store
        self.bus = bus
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.refused = 0

    def ship_once(self) -> int:
        sent = 0
        try:
            rows = self.store.audit_rows(limit=100, unpublished=True)
        except HallError as exc:
            log.warning("audit trail not readable: %s", exc)
            return 0
        for row in rows:
            data = {k: row[k] for k in ("id", "name", "role", "action", "detail", "ok", "ip")}
            try:
                self.bus.request(
                    "event.publish",
                    {"topic": "audit.recorded", "data": data, "durable": True},
                    request_id=f"panel-audit-{row['id']}-{int(row['at'] * 1000)}",
                )
            except BusError as exc:
                log.warning("audit trail not shipped yet: %s", exc)
                return sent
            except HallError as exc:  # the core answered, and said no: this row will never go
                log.error("audit row %d refused by the core, kept in panel.db only: %s", row["id"], exc)
                self.refused += 1
                self._mark(row["id"], refused=True)
                continue
            if not self._mark(row["id"]):
                return sent
            sent += 1
        return sent

    def _mark(self, audit_id: int, *, refused: bool = False) -> bool:
        try:
            self.store.mark_published(audit_id, refused=refused)
        except HallError as exc:  # shipped again later under the same request id: the core answers it once
            log.warning("audit row %d shipped but not marked: %s", audit_id, exc)
            return False
        return True

    def run(self, before: Callable[[], None] | None = None) -> None:
        while not self.stop.is_set():
            if before is not None:
                before()
            self.ship_once()
            self.wake.wait(2.0)
            self.wake.clear()

    def start(self, before: Callable[[], None] | None = None) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(before,), name="panel-audit", daemon=True)
        thread.start()
        return thread
