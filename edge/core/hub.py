"""The core's bus hub: requests in, replies and events out, with group commit.

One loop owns the database. It drains every request that has arrived (up to
``batch_max``), applies them in one transaction (each in its own savepoint, so
a failing request undoes only itself), commits once, which fsyncs, and only
then sends the replies and publishes the events. Concurrent clients therefore
share one fsync, and nothing acknowledged can be lost.

Writes are remembered by request id in the same transaction, so a retried
request gets the first reply again instead of being applied twice.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq
from pydantic import BaseModel

from edge import envelope
from edge.errors import HallError, InvalidRequest, StorageError
from edge.schemas import parse
from edge.storage import Database

log = logging.getLogger("hall.core")

Handler = Callable[[dict[str, Any], envelope.Envelope], Any]
REQUEST_MEMORY_S = 3 * 24 * 3600
MAX_REQUEST_BYTES = 32 * 1024 * 1024  # room for HQ's down bundles


@dataclass
class Route:
    handler: Handler
    model: type[BaseModel]
    write: bool
    remember: Callable[[dict[str, Any]], bool] | None = None  # which writes to remember by id (default all)


@dataclass
class Pending:
    sock: zmq.Socket[bytes]
    ident: bytes
    raw: bytes
    reply: dict[str, Any] | None = None
    request_id: str | None = None
    topic: str = "bus.error"


class Hub:
    def __init__(
        self,
        db: Database,
        ctx: zmq.Context[Any],
        *,
        request_endpoints: list[tuple[str, Path | None]],
        event_endpoints: list[tuple[str, Path | None]],
        take_events: Callable[[], list[envelope.Envelope]],
        discard_events: Callable[[int], None],
        pending_events: Callable[[], int],
        batch_max: int = 256,
    ) -> None:
        self.db = db
        self.routes: dict[str, Route] = {}
        self.take_events = take_events
        self.discard_events = discard_events
        self.pending_events = pending_events
        self.batch_max = batch_max
        self.routers: list[zmq.Socket[bytes]] = []
        self.pubs: list[zmq.Socket[bytes]] = []
        self.stats = {"batches": 0, "requests": 0, "errors": 0}
        self.after_commit: list[Callable[[], None]] = []
        self.after_rollback: list[Callable[[], None]] = []
        self._last_forget = 0.0
        for endpoint, keys in request_endpoints:
            self.routers.append(_bind(ctx, zmq.ROUTER, endpoint, keys))
        for endpoint, keys in event_endpoints:
            self.pubs.append(_bind(ctx, zmq.PUB, endpoint, keys))
        self.poller = zmq.Poller()
        for sock in self.routers:
            self.poller.register(sock, zmq.POLLIN)

    def route(
        self,
        topic: str,
        handler: Handler,
        *,
        model: type[BaseModel],
        write: bool,
        remember: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Serve ``topic``: ``data`` is validated by ``model`` first; writes are remembered by id."""
        if topic in self.routes:
            raise ValueError(f"request topic {topic} is routed twice")
        self.routes[topic] = Route(handler, model, write, remember)

    def close(self) -> None:
        for sock in [*self.routers, *self.pubs]:
            sock.close(linger=100)

    # -- loop -----------------------------------------------------------
    def poll_once(self, timeout_ms: int) -> int:
        """Wait for requests, process one batch; return how many were handled."""
        ready = dict(self.poller.poll(timeout_ms))
        batch: list[Pending] = []
        for sock in self.routers:
            if sock not in ready:
                continue
            while len(batch) < self.batch_max:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) < 2:
                    continue
                batch.append(Pending(sock, frames[0], frames[-1]))
        if batch:
            self.process(batch)
        return len(batch)

    def process(self, batch: list[Pending]) -> None:
        """Apply a batch in one transaction, commit (fsync), then reply and publish."""
        try:
            self.db.begin()
        except sqlite3.Error as exc:
            log.error("cannot start a transaction, %d request(s) refused: %s", len(batch), exc)
            self._refuse_all(batch, exc)
            self._send_replies(batch)
            return
        seen: dict[str, dict[str, Any]] = {}
        for item in batch:
            item.reply = self._apply(item, seen)
        try:
            self.db.commit()
        except sqlite3.Error as exc:
            self.db.rollback()
            self.discard_events(0)
            for hook in self.after_rollback:
                hook()
            log.error("commit failed, %d request(s) refused: %s", len(batch), exc)
            self._refuse_all(batch, exc)
        else:
            for hook in self.after_commit:
                hook()
        events = self.take_events()
        self._send_replies(batch)
        for event in events:
            try:
                self.publish(event)
            except (TypeError, ValueError, zmq.ZMQError) as exc:
                log.error("event %s not published: %s", event.get("topic"), exc)
        self.stats["batches"] += 1
        self.stats["requests"] += len(batch)

    def _refuse_all(self, batch: list[Pending], exc: sqlite3.Error) -> None:
        err = StorageError(f"the hall database could not save this: {exc}")
        for item in batch:
            if item.request_id is None:
                try:
                    env = envelope.parse(item.raw)
                    item.request_id, item.topic = env["id"], env["topic"]
                except InvalidRequest:
                    pass
            item.reply = _error(item.request_id, err)

    def _send_replies(self, batch: list[Pending]) -> None:
        for item in batch:
            assert item.reply is not None
            try:
                raw = envelope.encode(envelope.make(item.topic, item.reply, source="core"))
            except (TypeError, ValueError) as exc:
                log.error("reply to %s cannot be encoded: %s", item.topic, exc)
                internal = {"code": "internal", "message": "internal error: the reply could not be encoded"}
                raw = envelope.encode(
                    envelope.make(item.topic, {"re": item.request_id, "ok": False, "error": internal}, source="core")
                )
            try:
                item.sock.send_multipart([item.ident, raw], zmq.NOBLOCK)
            except zmq.Again:
                log.warning("reply to %s dropped: client queue full", item.topic)
            except zmq.ZMQError as exc:
                log.warning("reply to %s not sent: %s", item.topic, exc)

    def publish(self, event: envelope.Envelope) -> None:
        raw = envelope.encode(event)
        for pub in self.pubs:
            pub.send_multipart([event["topic"].encode(), raw])

    def _apply(self, item: Pending, seen: dict[str, dict[str, Any]]) -> dict[str, Any]:
        try:
            env = envelope.parse(item.raw)
        except InvalidRequest as exc:
            self.stats["errors"] += 1
            return _error(None, exc)
        item.request_id, item.topic = env["id"], env["topic"]
        route = self.routes.get(env["topic"])
        if route is None:
            self.stats["errors"] += 1
            return _error(env["id"], InvalidRequest(f"unknown request topic {env['topic']!r}"))
        mark = self.pending_events()
        try:
            remember = route.write and (route.remember is None or route.remember(env["data"]))
            if remember:
                if env["id"] in seen:
                    return seen[env["id"]]
                row = self.db.one("SELECT reply FROM requests WHERE id = ?", (env["id"],))
                if row is not None:
                    reply: dict[str, Any] = json.loads(row[0])
                    return reply
            with self.db.savepoint():
                parse(route.model, env["data"], env["topic"])
                result = route.handler(env["data"], env)
                reply = {"re": env["id"], "ok": True, "result": result}
                if remember:
                    self.db.execute(
                        "INSERT INTO requests (id, topic, reply, at) VALUES (?, ?, ?, ?)",
                        (env["id"], env["topic"], json.dumps(reply, ensure_ascii=False), time.time()),
                    )
                    seen[env["id"]] = reply
            return reply
        except HallError as exc:
            self.discard_events(mark)
            self.stats["errors"] += 1
            return _error(env["id"], exc)
        except Exception as exc:  # a bug in a handler must not stop the hall
            self.discard_events(mark)
            self.stats["errors"] += 1
            log.error("request %s failed:\n%s", env["topic"], traceback.format_exc())
            return {"re": env["id"], "ok": False, "error": {"code": "internal", "message": f"internal error: {exc}"}}

    def forget_old_requests(self, now: float) -> None:
        """Drop remembered replies older than three days (at most once an hour)."""
        if now - self._last_forget < 3600:
            return
        self._last_forget = now
        with self.db.atomic():
            self.db.execute("DELETE FROM requests WHERE at < ?", (now - REQUEST_MEMORY_S,))


def _error(request_id: str | None, exc: HallError) -> dict[str, Any]:
    return {"re": request_id, "ok": False, "error": exc.to_dict()}


def _bind(ctx: zmq.Context[Any], kind: int, endpoint: str, keys: Path | None) -> zmq.Socket[bytes]:
    sock: zmq.Socket[bytes] = ctx.socket(kind)
    sock.linger = 0
    if kind == zmq.ROUTER:
        sock.router_mandatory = False
        sock.maxmsgsize = MAX_REQUEST_BYTES  # a larger message drops the connection, not the core
    if keys is not None:
        from edge.bus import curve

        curve.make_server(sock, keys)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        sock.close(linger=0)
        raise HallError(f"cannot bind {endpoint}: {exc}") from exc
    return sock
