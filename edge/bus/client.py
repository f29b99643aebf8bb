"""Bus clients: request/reply with timeout and safe retries, and topic subscriptions.

A request carries an envelope id; the core remembers the reply of every write
by that id, so a retry after a lost reply (or a core restart) is answered, not
applied twice. Retries follow the "lazy pirate" pattern: on timeout the socket
is closed and a fresh one resends the same envelope::

    bus = BusClient("kiosk")
    ticket = bus.request("ticket.issue", {"business": "A"})
    sub = Subscriber(["ticket.called"])
    env = sub.recv(timeout=5.0)

Errors from the core are re-raised as the matching :mod:`edge.errors` class
(``NotFound``, ``Conflict``, ``InvalidRequest``); no reply after every retry is
:class:`~edge.errors.BusTimeout`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from edge import envelope
from edge.errors import ERRORS_BY_CODE, BusDown, BusError, BusTimeout, InvalidRequest, RemoteError
from edge.paths import Home


@dataclass(frozen=True)
class Endpoints:
    requests: str
    events: str
    server_key: bytes | None = None
    client_public: bytes | None = None
    client_secret: bytes | None = None

    @classmethod
    def local(cls, home: Home | None = None) -> Endpoints:
        home = home or Home.from_env()
        return cls(home.requests_endpoint, home.events_endpoint)

    @classmethod
    def from_env(cls) -> Endpoints:
        """``HALL_BUS_REQUESTS``/``HALL_BUS_EVENTS`` (TCP, with ``HALL_BUS_KEYS``) or the local ipc sockets."""
        req, ev = os.environ.get("HALL_BUS_REQUESTS"), os.environ.get("HALL_BUS_EVENTS")
        if not (req and ev):
            return cls.local()
        keys = os.environ.get("HALL_BUS_KEYS")
        if not keys:
            raise BusError("HALL_BUS_KEYS must name a directory with server.key and client.key_secret")
        return cls.curve(req, ev, Path(keys))

    @classmethod
    def curve(cls, requests: str, events: str, keys_dir: Path, name: str = "client") -> Endpoints:
        from edge.bus import curve

        server = curve.load_public(keys_dir / "server.key")
        public, secret = curve.ensure_keypair(keys_dir, name)
        return cls(requests, events, server, public, secret)

    def secure(self, sock: zmq.Socket[bytes]) -> None:
        if self.server_key is not None:
            from edge.bus import curve

            assert self.client_public is not None and self.client_secret is not None
            curve.make_client(sock, self.server_key, self.client_public, self.client_secret)


class BusClient:
    """Request/reply to the core. Thread-safe, and requests from several threads run side by side.

    Each request in flight has a DEALER socket of its own, taken from a small pool of idle ones (at
    most ``POOL`` are kept), so one request waiting for the core never holds up another. A request
    that gets no reply is sent again, with the same id, on a fresh socket (``retries`` times): the
    core answers a write it has already applied with the first reply.

    With ``down_s`` set (an interactive client: the staff panel), a request that went unanswered
    after every retry marks the core as down for ``down_s`` seconds: requests made meanwhile fail at
    once with :class:`BusDown`, without being sent, instead of each waiting out its own timeout.
    The first request after that window is sent as usual; any reply ends the window.
    """

    POOL = 4

    def __init__(
        self,
        source: str,
        *,
        endpoints: Endpoints | None = None,
        timeout: float = 3.0,
        retries: int = 3,
        context: zmq.Context[Any] | None = None,
        down_s: float = 0.0,
    ) -> None:
        self.source = source
        self.endpoints = endpoints or Endpoints.from_env()
        self.timeout = timeout
        self.retries = retries
        self.down_s = down_s
        self.ctx = context or zmq.Context.instance()
        self._idle: list[zmq.Socket[bytes]] = []
        self._lock = threading.Lock()  # guards the pool and the down window, never held while waiting
        self._down_until = 0.0
        self._down_reason = ""

    def _socket(self) -> zmq.Socket[bytes]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        sock: zmq.Socket[bytes] = self.ctx.socket(zmq.DEALER)
        sock.linger = 0
        try:
            self.endpoints.secure(sock)
            sock.connect(self.endpoints.requests)
        except BaseException:
            sock.close(linger=0)
            raise
        return sock

    def _give_back(self, sock: zmq.Socket[bytes]) -> None:
        with self._lock:
            if len(self._idle) < self.POOL:
                self._idle.append(sock)
                return
        sock.close(linger=0)

    def _check_down(self, topic: str) -> None:
        if not self.down_s:
            return
        with self._lock:
            left = self._down_until - time.monotonic()
            reason = self._down_reason
        if left > 0:
            raise BusDown(f"{topic} not sent: {reason}; asked again in {left:.1f} s")

    def _mark(self, *, down: str | None) -> None:
        if not self.down_s:
            return
        with self._lock:
            if down is None:
                self._down_until = 0.0
            else:
                self._down_until = time.monotonic() + self.down_s
                self._down_reason = down

    def request(
        self,
        topic: str,
        data: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        request_id: str | None = None,
    ) -> Any:
        """Send a request and return the core's result; raise the core's error if it refused."""
        env = envelope.make(topic, data or {}, source=self.source, id=request_id)
        raw = envelope.encode(env)
        wait_ms = int((timeout if timeout is not None else self.timeout) * 1000)
        attempts = 1 + (retries if retries is not None else self.retries)
        self._check_down(topic)
        for _ in range(attempts):
            sock = self._socket()
            try:
                sock.send(raw)
                reply = self._await(sock, env["id"], wait_ms)
            except zmq.ZMQError as exc:
                sock.close(linger=0)
                raise BusError(f"cannot send {topic}: {exc}") from exc
            except BaseException:
                sock.close(linger=0)
                raise
            if reply is not None:
                self._give_back(sock)
                self._mark(down=None)
                return _unwrap(topic, reply)
            sock.close(linger=0)  # a late reply to this attempt must not reach the next request
        message = f"no reply from the core to {topic} after {attempts} attempt(s) of {wait_ms} ms"
        self._mark(down=message)
        raise BusTimeout(message)

    def _await(self, sock: zmq.Socket[bytes], request_id: str, wait_ms: int) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait_ms / 1000
        while True:
            left = int((deadline - time.monotonic()) * 1000)
            if left <= 0 or not sock.poll(left):
                return None
            raw = sock.recv()
            try:
                reply = envelope.parse(raw, max_depth=envelope.REPLY_DEPTH)
            except InvalidRequest:
                continue
            data: dict[str, Any] = reply["data"]
            if data.get("re") == request_id:
                return data

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close(linger=0)

    def __enter__(self) -> BusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unwrap(topic: str, data: dict[str, Any]) -> Any:
    if data.get("ok"):
        return data.get("result")
    err = data.get("error") or {}
    code, message = str(err.get("code", "error")), str(err.get("message", f"{topic} failed"))
    cls = ERRORS_BY_CODE.get(code)
    if cls is not None:
        raise cls(message)
    raise RemoteError(code, message)


class Subscriber:
    """Events whose topic starts with one of ``prefixes`` (all events for ``[""]``)."""

    def __init__(
        self,
        prefixes: Iterable[str] = ("",),
        *,
        endpoints: Endpoints | None = None,
        context: zmq.Context[Any] | None = None,
    ) -> None:
        self.endpoints = endpoints or Endpoints.from_env()
        self.ctx = context or zmq.Context.instance()
        self.sock: zmq.Socket[bytes] = self.ctx.socket(zmq.SUB)
        self.sock.linger = 0
        self.endpoints.secure(self.sock)
        for prefix in prefixes:
            self.sock.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        self.sock.connect(self.endpoints.events)

    def recv(self, timeout: float | None = None) -> envelope.Envelope | None:
        """The next event, or None after ``timeout`` seconds (forever when None)."""
        if not self.sock.poll(None if timeout is None else int(timeout * 1000)):
            return None
        frames = self.sock.recv_multipart()
        try:
            return envelope.parse(frames[-1], max_depth=envelope.REPLY_DEPTH)
        except InvalidRequest:
            return None

    def __iter__(self) -> Iterator[envelope.Envelope]:
        while True:
            env = self.recv()
            if env is not None:
                yield env

    def close(self) -> None:
        self.sock.close(linger=0)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
