"""The core's bus hub: requests in, replies and events out, with group commit.

One loop owns the database. It drains every request that has arrived (up to
``batch_max``), applies them in one transaction (each in its own savepoint, so
a failing request undoes only itself), commits once, which fsyncs, and only
then sends the replies and publishes the events. Concurrent clients therefore
share one fsync, and nothing acknowledged can be lost.

A request is bounded before it is parsed (size, nesting: :mod:`edge.envelope`),
validated once against its topic's model, and the handler gets the typed
request. Whatever goes wrong inside a request (a refusal, a bug, a database
error) undoes that request and answers it with an error; whatever goes wrong
around a whole batch (the commit fails: a full disk) undoes the batch, answers
its writes with the error and its reads again, and leaves no transaction open,
so the next batch is served normally.

Writes are remembered by request id in the same transaction, so a retried
request gets the first reply again instead of being applied twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
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
from edge.storage.db import UndoFailed, storage_error
from edge.storage.outbox import Outbox

log = logging.getLogger("hall.core")

Handler = Callable[[Any, envelope.Envelope], Any]
REQUEST_MEMORY_S = 3 * 24 * 3600
MAX_REQUEST_BYTES = envelope.MAX_BYTES  # the largest message taken (HQ's bundles); larger drops the connection
REQUEST_BYTES = 1024 * 1024  # any request whose topic allows no more
BATCH_BYTES = 64 * 1024 * 1024  # a batch stops taking requests past this (the rest wait for the next)
_TOPIC = re.compile(rb'"topic"\s*:\s*"([a-z0-9_.]{1,64})"')
_ID = re.compile(rb'"id"\s*:\s*"([0-9A-Za-z_.:-]{1,64})"')
REFUSED = ("storage", "disk_full", "error")  # the codes a whole refused batch is answered with


@dataclass
class Route:
    handler: Handler
    model: type[BaseModel]
    write: bool
    remember: Callable[[Any], bool] | None = None  # which writes to remember by id (default all)
    max_bytes: int = REQUEST_BYTES


@dataclass
class Pending:
    sock: zmq.Socket[bytes]
    ident: bytes
    raw: bytes
    reply: dict[str, Any] | None = None
    request_id: str | None = None
    topic: str = "bus.error"
    route: Route | None = None


class BatchLost(StorageError):
    """The database undid the batch's transaction by itself (a full disk, an I/O error)."""


class Hub:
    def __init__(
        self,
        db: Database,
        ctx: zmq.Context[Any],
        *,
        request_endpoints: list[tuple[str, Path | None]],
        event_endpoints: list[tuple[str, Path | None]],
        outbox: Outbox,
        batch_max: int = 256,
    ) -> None:
        self.db = db
        self.routes: dict[str, Route] = {}
        self.outbox = outbox
        self.batch_max = batch_max
        self.routers: list[zmq.Socket[bytes]] = []
        self.pubs: list[zmq.Socket[bytes]] = []
        self.stats = {"batches": 0, "requests": 0, "errors": 0, "refused_batches": 0}
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
        remember: Callable[[Any], bool] | None = None,
        max_bytes: int = REQUEST_BYTES,
    ) -> None:
        """Serve ``topic``: ``data`` is validated by ``model`` and the handler gets the model instance.

        ``remember`` (given the typed request) says which writes are remembered by id for retries;
        ``max_bytes`` bounds the whole request message (at most :data:`MAX_REQUEST_BYTES`).
        """
        if topic in self.routes:
            raise ValueError(f"request topic {topic} is routed twice")
        if not 0 < max_bytes <= MAX_REQUEST_BYTES:
            raise ValueError(f"max_bytes of {topic} must be between 1 and {MAX_REQUEST_BYTES}")
        self.routes[topic] = Route(handler, model, write, remember, max_bytes)

    def close(self) -> None:
        for sock in [*self.routers, *self.pubs]:
            sock.close(linger=100)

    # -- loop -----------------------------------------------------------
    def poll_once(self, timeout_ms: int) -> int:
        """Wait for requests, process one batch; return how many were handled."""
        ready = dict(self.poller.poll(timeout_ms))
        batch: list[Pending] = []
        size = 0
        for sock in self.routers:
            if sock not in ready:
                continue
            while len(batch) < self.batch_max and size < BATCH_BYTES:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                if len(frames) < 2:
                    continue
                batch.append(Pending(sock, frames[0], frames[-1]))
                size += len(frames[-1])
        if batch:
            self.process(batch)
        return len(batch)

    def process(self, batch: list[Pending]) -> None:
        """Apply a batch in one transaction, commit (fsync), then reply and publish.

        Leaves no transaction open, whatever happens: a batch that cannot be committed is rolled
        back and answered (writes refused, reads answered again), so the next batch starts clean.
        """
        if self.db.conn.in_transaction:  # a step outside the hub left one open: never serve on top of it
            log.error("a transaction was left open before this batch; rolling it back")
            self._rollback()
        try:
            self.db.begin()
        except sqlite3.Error as exc:
            log.error("cannot start a transaction, %d request(s) refused: %s", len(batch), exc)
            self._refuse(batch, exc)
            self._retry_reads(batch)
            self._send_replies(batch)
            return
        try:
            seen: dict[str, dict[str, Any]] = {}
            for item in batch:
                item.reply = self._apply(item, seen)
                if not self.db.conn.in_transaction:
                    raise BatchLost("the hall database undid the transaction")
            self.db.commit()
        except Exception as exc:  # the batch as a whole failed: nothing of it is kept
            self._undo(batch, exc)
        except BaseException:  # Ctrl-C or exit in the middle: leave the database as it was, answer nothing
            self._rollback()
            self.outbox.discard()
            raise
        else:
            self._hooks(self.after_commit, "after commit")
        events = self.outbox.take()
        self._send_replies(batch)
        for event in events:
            try:
                self.publish(event)
            except (HallError, zmq.ZMQError) as exc:
                log.error("event %s not published: %s", event.get("topic"), exc)
        self.stats["batches"] += 1
        self.stats["requests"] += len(batch)

    def _rollback(self) -> None:
        try:
            self.db.rollback()
        except sqlite3.Error as exc:
            log.error("rollback failed: %s", exc)

    def _hooks(self, hooks: list[Callable[[], None]], when: str) -> None:
        for hook in hooks:
            try:
                hook()
            except Exception:
                log.exception("%s hook failed", when)

    def _undo(self, batch: list[Pending], exc: Exception) -> None:
        self._rollback()
        self.outbox.discard()
        self._hooks(self.after_rollback, "after rollback")
        self.stats["refused_batches"] += 1
        if not isinstance(exc, (sqlite3.Error, HallError)):
            log.error("batch failed:\n%s", traceback.format_exc())
        cause = f" (after: {exc.cause})" if isinstance(exc, UndoFailed) and exc.cause is not None else ""
        log.error("batch of %d request(s) undone: %s%s", len(batch), exc, cause)
        self._refuse(batch, exc)
        self._retry_reads(batch)

    def _refuse(self, batch: list[Pending], exc: Exception) -> None:
        """Answer every request that succeeded (or never ran) with the batch's failure: its changes were undone."""
        for item in batch:
            if item.reply is not None and not item.reply.get("ok"):
                continue  # refused on its own already; it changed nothing
            what = item.topic if item.request_id is not None else "this request"
            cause = exc.cause if isinstance(exc, UndoFailed) else exc  # a step's own failure says what happened
            if isinstance(cause, sqlite3.Error):
                err: HallError = storage_error(cause, what)
            elif isinstance(exc, HallError):
                err = exc
            else:
                err = HallError(f"internal error ({type(exc).__name__}): {what} was not saved")
            item.reply = _error(item.request_id, err)

    def _retry_reads(self, batch: list[Pending]) -> None:
        """Answer the reads of a refused batch again, each in a transaction of its own (they change nothing)."""
        for item in batch:
            if item.reply is not None and item.reply["error"].get("code") not in REFUSED:
                continue  # refused on its own: answered already
            route = item.route or self._route_of(item.raw)
            if route is None or route.write:
                continue
            try:
                self.db.begin()
            except sqlite3.Error:
                return
            try:
                item.reply = self._apply(item, {})
            finally:
                self._rollback()
                self.outbox.discard()

    def _route_of(self, raw: bytes) -> Route | None:
        try:
            return self.routes.get(self._parse(raw)["topic"])
        except InvalidRequest:
            return None

    def _send_replies(self, batch: list[Pending]) -> None:
        for item in batch:
            assert item.reply is not None
            try:
                raw = envelope.encode(envelope.make(item.topic, item.reply, source="core"))
            except HallError as exc:
                log.error("reply to %s cannot be encoded: %s", item.topic, exc)
                raw = b""
            if len(raw) > envelope.MAX_BYTES:
                log.error("reply to %s is %d bytes, more than a client takes", item.topic, len(raw))
                raw = b""
            if not raw:
                internal = {"code": "internal", "message": "internal error: the reply could not be sent"}
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

    def _parse(self, raw: bytes) -> envelope.Envelope:
        """The envelope, its size checked against what its topic may carry before the JSON is read."""
        limit = REQUEST_BYTES
        if len(raw) > REQUEST_BYTES:
            found = _TOPIC.search(raw)
            route = self.routes.get(found.group(1).decode()) if found else None
            if route is None or len(raw) > route.max_bytes:
                raise InvalidRequest(f"request is {len(raw)} bytes, more than the {REQUEST_BYTES} allowed")
            limit = route.max_bytes
        return envelope.parse(raw, max_bytes=limit)

    def _apply(self, item: Pending, seen: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """One request in its own savepoint; every failure of its own is answered as an error."""
        try:
            env = self._parse(item.raw)
        except InvalidRequest as exc:
            self.stats["errors"] += 1
            found = _ID.search(item.raw[:4096])  # so the sender can match the refusal to its request
            item.request_id = found.group(1).decode() if found else None
            return _error(item.request_id, exc)
        item.request_id, item.topic = env["id"], env["topic"]
        route = item.route = self.routes.get(env["topic"])
        if route is None:
            self.stats["errors"] += 1
            return _error(env["id"], InvalidRequest(f"unknown request topic {env['topic'][:64]!r}"))
        mark = self.outbox.mark()
        try:
            if len(item.raw) > route.max_bytes:
                raise InvalidRequest(f"{env['topic']} is {len(item.raw)} bytes, more than its {route.max_bytes}")
            req = parse(route.model, env["data"], env["topic"])
            remember = route.write and (route.remember is None or route.remember(req))
            if remember:
                if env["id"] in seen:
                    return seen[env["id"]]
                row = self.db.one("SELECT reply FROM requests WHERE id = ?", (env["id"],))
                if row is not None:
                    reply: dict[str, Any] = json.loads(row[0])
                    return reply
            with self.db.savepoint():
                result = route.handler(req, env)
                reply = {"re": env["id"], "ok": True, "result": result}
                if route.write:  # a write's reply must be sendable before it is committed
                    stored = json.dumps(reply, ensure_ascii=False, allow_nan=False)
                    stored.encode()
                    if remember:
                        self.db.execute(
                            "INSERT INTO requests (id, topic, reply, at) VALUES (?, ?, ?, ?)",
                            (env["id"], env["topic"], stored, time.time()),
                        )
                        seen[env["id"]] = reply
            return reply
        except UndoFailed:
            raise  # the request's changes may still be in the transaction: the whole batch must go
        except HallError as exc:
            self.outbox.discard(mark)
            self.stats["errors"] += 1
            return _error(env["id"], exc)
        except sqlite3.Error as exc:
            self.outbox.discard(mark)
            self.stats["errors"] += 1
            log.error("request %s: database error: %s", env["topic"], exc)
            return _error(env["id"], storage_error(exc, env["topic"]))
        except Exception as exc:  # a bug in a handler, or input no check foresaw: it must not stop the hall
            self.outbox.discard(mark)
            self.stats["errors"] += 1
            log.error("request %s failed:\n%s", env["topic"], traceback.format_exc())
            message = f"internal error: {type(exc).__name__}: {str(exc)[:200]}"
            return {"re": env["id"], "ok": False, "error": {"code": "internal", "message": message}}

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
    if endpoint.startswith("ipc://"):
        os.chmod(endpoint.removeprefix("ipc://"), 0o660)  # the hall's group connects (services of their own user)
    return sock
