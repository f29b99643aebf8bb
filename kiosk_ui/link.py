"""A customer screen's only door to the hall: bus requests on a worker thread, events on another.

The screen must never wait on the network, so :meth:`Link.call` queues a request
and returns at once; the reply (or the error) comes back through ``post``, which
runs a function on the UI thread (``Clock.schedule_once`` in the app). Events the
kiosk listens to arrive the same way. A request that gets no answer marks the
link offline (``on_online(False)``); the next answered one marks it online.

    link = Link(post, on_event=handle, on_online=show_banner)
    link.start()
    link.call("queue.status", {}, on_ok=draw)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.bus import BusClient, Endpoints, Subscriber
from edge.errors import BusError, HallError

log = logging.getLogger("hall.kiosk")

Post = Callable[[Callable[[], None]], None]
TOPICS = (  # the kiosk's; the counter pad names its own
    "card.id.read",
    "card.ic.read",
    "printer.",
    "ticket.",
    "counter.",
    "bundle.applied",
    "face.",
    "evaluation.recorded",
)


@dataclass
class Job:
    topic: str
    data: dict[str, Any]
    on_ok: Callable[[Any], None] | None
    on_err: Callable[[HallError], None] | None
    timeout: float


class Link:
    """Bus requests and events for a UI thread; never raises into the UI."""

    def __init__(
        self,
        post: Post,
        *,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        on_online: Callable[[bool], None] | None = None,
        source: str = "kiosk",
        endpoints: Endpoints | None = None,
        topics: Sequence[str] = TOPICS,
        timeout: float = 2.5,
    ) -> None:
        self.post = post
        self.on_event = on_event
        self.on_online = on_online
        self.endpoints = endpoints or Endpoints.from_env()
        self.source = source
        self.client = BusClient(source, endpoints=self.endpoints, timeout=timeout, retries=1)
        self.topics = tuple(topics)
        self.timeout = timeout
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.stopping = threading.Event()
        self.online: bool | None = None
        self.threads: list[threading.Thread] = []

    def start(self) -> Link:
        for target, name in ((self._work, f"{self.source}-requests"), (self._listen, f"{self.source}-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.jobs.put(None)
        for thread in self.threads:
            thread.join(timeout=1)
        self.client.close()

    def call(
        self,
        topic: str,
        data: dict[str, Any] | None = None,
        *,
        on_ok: Callable[[Any], None] | None = None,
        on_err: Callable[[HallError], None] | None = None,
        timeout: float | None = None,
    ) -> None:
        """Queue a request; ``on_ok(result)`` or ``on_err(error)`` later runs on the UI thread."""
        self.jobs.put(Job(topic, data or {}, on_ok, on_err, timeout or self.timeout))

    def publish(self, topic: str, data: dict[str, Any], *, durable: bool = True, **callbacks: Any) -> None:
        """Publish one of the kiosk's own facts through the core (``event.publish``)."""
        self.call("event.publish", {"topic": topic, "data": data, "durable": durable}, **callbacks)

    def _set_online(self, online: bool) -> None:
        if online != self.online:
            self.online = online
            if self.on_online is not None:
                callback = self.on_online
                self.post(lambda: callback(online))

    def _work(self) -> None:
        while not self.stopping.is_set():
            job = self.jobs.get()
            if job is None:
                return
            try:
                result = self.client.request(job.topic, job.data, timeout=job.timeout)
            except BusError as exc:
                log.warning("%s: no answer from the core: %s", job.topic, exc)
                self._set_online(False)
                self._reply(job.on_err, exc)
                continue
            except HallError as exc:
                self._set_online(True)
                self._reply(job.on_err, exc)
                continue
            self._set_online(True)
            self._reply(job.on_ok, result)

    def _reply(self, callback: Callable[[Any], None] | None, value: Any) -> None:
        if callback is not None:
            fn = callback
            self.post(lambda: fn(value))

    def _listen(self) -> None:
        with Subscriber(self.topics, endpoints=self.endpoints) as sub:
            while not self.stopping.is_set():
                env = sub.recv(timeout=0.3)
                if env is not None and self.on_event is not None:
                    self.post(_bind(self.on_event, env))


def _bind(fn: Callable[[Any], None], value: Any) -> Callable[[], None]:
    return lambda: fn(value)
