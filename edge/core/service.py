"""``hall core``: the queue engine and the bus hub in one process.

It takes a lock on ``$HALL_HOME/run/core.lock`` (one core per hall), opens
``hall.db``, binds the ipc endpoints (and CurveZMQ TCP endpoints when the
config names them), then serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import inspect
import json
import logging
import os
import signal
import sqlite3
import sys
import threading
import time
import typing
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import zmq
from pydantic import BaseModel

from edge import __version__, config, envelope, sdnotify
from edge.config import HallConfig
from edge.core.hub import REQUEST_BYTES, Handler, Hub
from edge.errors import ConfigError, Conflict, DiskFull, HallError, HomeUnusable, InvalidRequest, StorageError
from edge.paths import Home
from edge.proc import start
from edge.queue.engine import Queue
from edge.schemas import bus as bus_schema
from edge.schemas import devices as devices_schema
from edge.schemas import parse
from edge.schemas import queue as queue_schema
from edge.storage import Database
from edge.storage.outbox import Outbox

log = logging.getLogger("hall.core")
TICK_S = 5.0
OPEN_RETRY_S = 2.0  # a core that cannot open hall.db for want of disk space tries again this often

# Modules with ``register(core)`` that add request topics and tick hooks to the core.
AREAS: tuple[str, ...] = (
    "edge.core.alerts",
    "edge.core.stats",
    "edge.core.sync",
    "edge.core.records",
    "edge.core.ops",
    "edge.core.seats",
    "edge.core.repairs",
)


class Core:
    def __init__(self, home: Home, cfg: HallConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.home = home.ensure()
        self.cfg = cfg
        self.clock = clock
        self._lock_fd = _single_instance(home.lock_path)
        try:
            self.db = Database(home.db_path)
        except BaseException:
            os.close(self._lock_fd)  # so that trying again in this process finds the lock free
            raise
        self.outbox = Outbox()
        self.queue = Queue(self.db, cfg, clock=clock, outbox=self.outbox)
        self.ctx: zmq.Context[Any] = zmq.Context()
        self.auth: Any = None
        requests: list[tuple[str, Path | None]] = [(home.requests_endpoint, None)]
        events: list[tuple[str, Path | None]] = [(home.events_endpoint, None)]
        if cfg.bus.tcp_requests or cfg.bus.tcp_events:
            self._start_auth()
            if cfg.bus.tcp_requests:
                requests.append((cfg.bus.tcp_requests, home.keys_dir))
            if cfg.bus.tcp_events:
                events.append((cfg.bus.tcp_events, home.keys_dir))
        self.hub = Hub(
            self.db,
            self.ctx,
            request_endpoints=requests,
            event_endpoints=events,
            outbox=self.outbox,
        )
        self._cfg_before: HallConfig | None = None
        self.hub.after_commit.append(self._config_kept)
        self.hub.after_rollback.append(self._config_undone)
        self._load_bundle_config()
        self._cfg_before = None
        self.tick_hooks: list[Callable[[], None]] = [self.queue.roll_day]
        # Called with every event other services publish, inside the transaction (areas keep facts).
        self.publish_observers: list[Callable[[envelope.Envelope], None]] = []
        # Called with the alert rules and the time at each evaluation; each returns conditions that hold.
        self.alert_sources: list[Callable[[Any, float], list[Any]]] = []
        self._routes()
        self.stop = threading.Event()

    def _load_bundle_config(self) -> None:
        """Businesses and counters from HQ's bundle in force replace the file's (see edge.core.sync)."""
        try:
            rows = self.db.all(
                "SELECT kind, data FROM bundle_items WHERE kind IN ('business', 'counter') ORDER BY rowid"
            )
        except sqlite3.OperationalError:
            return
        businesses = [json.loads(r["data"]) for r in rows if r["kind"] == "business"]
        counters = [json.loads(r["data"]) for r in rows if r["kind"] == "counter"]
        if businesses or counters:
            try:
                self.set_config(config.overlay(self.cfg, businesses, counters))
            except HallError as exc:
                log.error("HQ's businesses and counters are not usable, keeping the config file's: %s", exc)

    def set_config(self, cfg: HallConfig) -> None:
        """Put a new config in force for every area; if the transaction it came in fails, the old one returns."""
        if self._cfg_before is None:
            self._cfg_before = self.cfg
        self.cfg = cfg
        self.queue.cfg = cfg
        for counter in cfg.counters:
            self.db.execute("INSERT OR IGNORE INTO counters (id) VALUES (?)", (counter.id,))

    def _config_kept(self) -> None:
        self._cfg_before = None

    def _config_undone(self) -> None:
        if self._cfg_before is not None:
            self.cfg = self.queue.cfg = self._cfg_before
            self._cfg_before = None

    def _start_auth(self) -> None:
        from zmq.auth.thread import ThreadAuthenticator

        from edge.bus import curve

        curve.ensure_keypair(self.home.keys_dir, "server")
        self.auth = ThreadAuthenticator(self.ctx)
        self.auth.start()
        self.auth.configure_curve(domain="*", location=str(curve.clients_dir(self.home.keys_dir)))

    def _routes(self) -> None:
        q = self.queue
        table: dict[str, Callable[[Any], Any]] = {
            "ticket.issue": q.issue,
            "ticket.show": q.show,
            "ticket.cancel": q.cancel,
            "ticket.list": q.list_tickets,
            "ticket.evaluate": q.evaluate,
            "counter.open": q.open,
            "counter.close": q.close,
            "counter.pause": q.pause,
            "counter.resume": q.resume,
            "counter.call": q.call,
            "counter.recall": q.recall,
            "counter.serve": q.serve,
            "counter.transfer": q.transfer,
            "counter.noshow": q.noshow,
            "counter.finish": q.finish,
            "counter.list": q.counter_list,
            "queue.status": q.status,
            "appointment.book": q.book,
            "appointment.checkin": q.checkin,
            "customer.tag": q.tag,
        }
        for topic, fn in table.items():
            self.route(topic, _plain(fn), queue_schema, typed_as=fn)
        self.route("hall.ping", self._ping, bus_schema)
        self.route("events.since", self._events_since, bus_schema)
        self.route("event.publish", self._publish, bus_schema, remember=lambda req: bool(req.durable))
        for name in AREAS:
            importlib.import_module(name).register(self)

    # -- what areas use -------------------------------------------------------
    def route(
        self,
        topic: str,
        handler: Handler,
        schema: ModuleType,
        remember: Callable[[Any], bool] | None = None,
        *,
        max_bytes: int = REQUEST_BYTES,
        typed_as: Callable[..., Any] | None = None,
    ) -> None:
        """Serve a request topic whose model is in ``schema.REQUESTS`` (a write unless in ``schema.READS``).

        The handler gets the validated model instance and the envelope. ``remember`` (given the typed
        request) says which writes are remembered by request id for retries (default: all);
        ``max_bytes`` bounds the request. Refuses at start a handler annotated for another model.
        """
        model = schema.REQUESTS[topic]
        _check_handler(topic, typed_as or handler, model)
        self.hub.route(
            topic,
            handler,
            model=model,
            write=topic not in schema.READS,
            remember=remember,
            max_bytes=max_bytes,
        )

    def emit(self, topic: str, data: dict[str, Any]) -> None:
        """Append an event to the log in the current transaction; it is published after the commit."""
        self.queue.emit(topic, data)

    # -- bus-level handlers -------------------------------------------------
    def _ping(self, req: bus_schema.Ping, env: envelope.Envelope) -> dict[str, Any]:
        row = self.db.one("SELECT COALESCE(MAX(seq), 0) FROM events")
        return {
            "hall": self.cfg.hall.id,
            "timezone": self.cfg.hall.timezone,  # the zone every time a person reads is shown in
            "version": __version__,
            "pid": os.getpid(),
            "seq": row[0] if row else 0,
            "stats": dict(self.hub.stats),
        }

    def _events_since(self, req: bus_schema.EventsSince, env: envelope.Envelope) -> list[envelope.Envelope]:
        return self.db.events_since(req.seq, req.limit, req.prefix, max_bytes=bus_schema.REPLY_EVENTS_BYTES)

    def _publish(self, req: bus_schema.EventPublish, env: envelope.Envelope) -> dict[str, Any]:
        size = len(json.dumps(req.data, ensure_ascii=False, separators=(",", ":")).encode())
        if size > bus_schema.MAX_EVENT_BYTES:
            raise InvalidRequest(
                f"event {req.topic} carries {size} bytes of data, more than the {bus_schema.MAX_EVENT_BYTES} "
                "an event may carry (it must fit a batch to HQ): send less, or write a file and name it"
            )
        if bus_schema.core_only(req.topic):
            raise Conflict(f"topic {req.topic} belongs to the core; send the request that changes it instead")
        if env["source"] == "core":
            raise Conflict("only the core itself may publish as source 'core'")
        model = devices_schema.EVENT_MODELS.get(req.topic)
        if model is not None:
            parse(model, req.data, req.topic)
        if req.durable:
            event = self.db.append_event(req.topic, req.data, source=env["source"])
        else:
            event = envelope.make(req.topic, req.data, source=env["source"])
        self.outbox.add(event)
        for observe in self.publish_observers:
            observe(event)
        return {"seq": event.get("seq")}

    # -- running ------------------------------------------------------------
    def tick(self) -> None:
        """Periodic work in one transaction (tick hooks: close yesterday's queue, …), then forget old request ids."""
        self.db.begin()
        try:
            for hook in self.tick_hooks:
                hook()
            self.db.commit()
        except BaseException:
            self.db.rollback()
            self.outbox.discard()
            raise
        for event in self.outbox.take():
            self.hub.publish(event)
        self.hub.forget_old_requests(self.clock())

    def serve(self) -> None:
        log.info("core of hall %s serving on %s", self.cfg.hall.id, self.home.requests_endpoint)
        sdnotify.ready(f"serving hall {self.cfg.hall.id}")
        next_tick = 0.0
        while not self.stop.is_set():
            sdnotify.alive()  # from the request loop itself: a loop that stops going round is restarted
            now = time.monotonic()
            if now >= next_tick:
                try:
                    self.tick()
                except (sqlite3.Error, StorageError) as exc:  # a full disk: said once a tick, requests go on
                    log.error("periodic work not saved: %s", exc)
                except Exception:  # periodic work must never stop the queue
                    log.exception("periodic work failed")
                next_tick = now + TICK_S
            try:
                self.hub.poll_once(timeout_ms=200)
            except Exception:  # the hall's queue must outlive any one bad batch
                log.exception("request loop failed; serving on")
                self.stop.wait(0.2)

    def close(self) -> None:
        self.hub.close()
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()
        self.db.close()
        os.close(self._lock_fd)


def _plain(fn: Callable[[Any], Any]) -> Handler:
    """A handler of the typed request alone (the queue engine's) as the hub calls it."""
    return lambda req, env: fn(req)


def _check_handler(topic: str, handler: Callable[..., Any], model: type[BaseModel]) -> None:
    """Refuse a handler whose first parameter is annotated with a model other than the topic's."""
    try:
        hints = typing.get_type_hints(handler)
    except (NameError, TypeError):
        return
    names = [n for n in inspect.signature(handler).parameters if n != "self"]
    if not names or names[0] not in hints:
        return
    wanted = hints[names[0]]
    accepted = typing.get_args(wanted) or (wanted,)
    if not any(isinstance(t, type) and issubclass(model, t) for t in accepted):
        raise TypeError(f"handler of {topic} takes {wanted}, but the topic's model is {model.__name__}")


def _single_instance(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise HomeUnusable(
            f"HALL_HOME {path.parent.parent} cannot be used: cannot open {path}: {exc.strerror}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise HallError(f"another core is already running for {path.parent.parent}") from None
    return fd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hall core", description="Run the queue engine and the bus hub.")
    parser.add_argument("--config", help="hall config file (TOML); default: embedded demo hall")
    args = parser.parse_args(argv)
    started = start("hall core", args.config)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    core: Core | None = None
    said = False
    while core is None:
        try:
            core = Core(started.home, started.config)
        except DiskFull as exc:  # not a fault a restart mends: wait here, and serve as soon as there is room
            if not said:
                print(f"hall core: {exc}; waiting for room (trying every {OPEN_RETRY_S:g} s)", file=sys.stderr)
                said = True
            if stopping.wait(OPEN_RETRY_S):
                return 1
        except HallError as exc:
            print(f"hall core: {exc}", file=sys.stderr)
            return 2 if isinstance(exc, ConfigError) else 1

    def stop(signum: int, frame: object) -> None:
        assert core is not None
        core.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if stopping.is_set():
        core.stop.set()
    try:
        core.serve()
    finally:
        core.close()
    return 0
