"""``hall sync``: ship the hall's log to HQ and bring HQ's bundles down.

The agent holds no state of its own that matters: where to resume is HQ's
cursor per lane (asked at start and after any failure), and the core records
each acknowledgement (``sync.acked``), so the agent can be killed at any point.
One round, in lane priority order (alerts, records, analytics): read the first
lane with events above HQ's cursor from the core (``sync.batch``, packed as HQ
takes it), pass every event through the privacy scrub (:mod:`sync.packing`:
looked at as text, walked only where something may be removed), send the batch
gzip-compressed and signed, and on HQ's answer tell the core. A lost answer means the batch is sent
again, and HQ skips what it holds; a gap answer moves the cursor to HQ's.
Failures are retried with exponential backoff and full jitter, capped by
``backoff_max_s``, so sending resumes within that cap once the link is back.

A batch HQ refuses as inconsistent (a seq it holds in another lane, a head out
of bounds…) cannot be taken by sending it again: that lane stops (the others go
on), the refusal is logged once as an error, reported as the link's error
(``hall sync status``) and in ``sync.status`` (``state: "refused"``, with the lane,
seq and field HQ named), and the lane is tried again every ``refused_retry_s``
(or at the agent's restart) in case HQ was put right. A batch too large for HQ
(413) is sent again in halves.

Also: a newer down bundle is fetched every ``bundle_poll_s`` and handed to the
core (``bundle.apply``), the outcome reported to HQ; below ``min_free_mb`` of
free disk the core is asked to shed (``sync.shed``); every ``status_every_s``
the link status goes on the bus as a ``sync.status`` event (not logged). In the
demo (``HALL_DEMO=1``) without a credential it runs an HQ of its own (:mod:`sync.demo`).

    hall sync                       run the agent
    hall sync status [--json]       cursor, backlog, last acknowledgement, last error
    hall sync credential FILE|-     store the credential `hall hq hall add` printed
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from edge import sdnotify
from edge.core.hub import MAX_REQUEST_BYTES
from edge.errors import BusError, Conflict, HallError, InvalidRequest, NotFound
from edge.paths import Home
from edge.schemas.sync import LANES
from sync import boxkeys, keywrap, packing
from sync.client import encode_batch
from sync.config import Credential, SyncConfig, load_credential, save_credential
from sync.errors import AuthError, BatchRefused, GapRefused, LinkDown, Refused, SyncError

log = logging.getLogger("hall.sync")
MAX_BUNDLE_BYTES = MAX_REQUEST_BYTES - 64 * 1024  # the envelope around it must fit too
HISTORY_FILE = "sync.history"  # kept when HQ holds another box's history of this hall (see Agent._same_history)
ACK_EVERY_S = 0.5  # while draining, the core learns HQ's cursors at most this often (and at once when idle)
RETRY_TOPIC = "sync.retry_requested"  # published (not logged) to cut a backoff short


@dataclass(frozen=True)
class Prepared:
    """A batch ready to send: which lane, the cursor it follows, its last seq, and its encoded body."""

    lane: str
    after: int
    last: int
    count: int
    scrubbed: int
    body: bytes


class Agent:
    def __init__(
        self,
        cfg: SyncConfig,
        cred: Credential,
        bus: Any,
        client: Any,
        *,
        home: Home,
        stop: threading.Event | None = None,
        wake: Any = None,
        reader: Any = None,
        fetcher: Any = None,
    ) -> None:
        self.cfg = cfg
        self.cred = cred
        self.bus = bus
        self.client = client
        self.home = home
        self.stop = stop or threading.Event()
        self.wake = wake  # a Subscriber: any event wakes an idle agent
        self.cursors: dict[str, int] | None = None
        self.error: str | None = None
        self.reported: tuple[bool, str | None] | None = None
        self.refused_version: int | None = None
        self.deferred_version: int | None = None
        self.next_bundle = 0.0
        self.next_status = 0.0
        self.next_disk = 0.0
        self.stats = {"sent": 0, "batches": 0, "scrubbed": 0, "gaps": 0}
        self.refused: dict[str, dict[str, Any]] = {}  # lane -> what HQ refused, and when to try again
        self.limits: dict[str, int] = {}  # lane -> batch size after HQ found a batch too large
        self.reader = reader  # a second bus client: the next batch is read on it while HQ stores this one
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="sync-read") if reader is not None else None
        self.ahead: Future[Prepared | None] | None = None
        # a third bus client: the core reads the batch after the one read ahead while the agent looks at that one
        self.fetcher = fetcher
        self.fetch_pool = ThreadPoolExecutor(1, thread_name_prefix="sync-fetch") if fetcher is not None else None
        self.fetched: tuple[tuple[str, int, int], Future[dict[str, Any]]] | None = None
        self.unacked: dict[str, int] = {}  # lane -> HQ's cursor not yet told to the core
        self.keys_digest: str | None = None  # the customer keys installed, as HQ names them
        self.repair_after = 0  # the last repair update from HQ handed to the core
        self.acked_at = 0.0

    # -- one round ------------------------------------------------------------
    def step(self) -> bool:
        """Send the highest-priority ready batch; False when every lane is drained (or refused)."""
        if self.cursors is None:
            self._drop_ahead()
            cursors = self.client.cursors()
            self._same_history(max(cursors.values(), default=0))
            self.cursors = cursors
            for lane, cursor in self.cursors.items():
                if cursor > 0:
                    self._acked(lane, cursor)
        batch = self._take_ahead()
        if batch is None:
            batch = self._prepare(self.bus, dict(self.cursors), self._waiting_lanes())
        for lane in [lane for lane in LANES if lane in self.refused and lane not in self._waiting_lanes()]:
            if batch is None or LANES.index(lane) < LANES.index(batch.lane):
                self.refused.pop(lane, None)  # drained since: nothing of it is left to refuse
        if batch is None:
            self._flush_acks(force=True)
            return False
        if self.reader is not None and self.pool is not None:  # the next batch is read while HQ stores this one
            ahead = {**self.cursors, batch.lane: batch.last}
            self.ahead = self.pool.submit(self._prepare, self.reader, ahead, self._waiting_lanes())
        lane, after = batch.lane, batch.after
        try:
            cursor = self.client.send_encoded(lane, batch.body)
        except GapRefused as exc:
            self._drop_ahead()
            log.warning("HQ is at seq %d of lane %s, not %d: resending from there", exc.cursor, lane, after)
            self.stats["gaps"] += 1
            self.cursors[lane] = exc.cursor
            return True
        except BatchRefused as exc:
            self._drop_ahead()
            self._refuse(lane, after, exc)
            return True
        except Refused as exc:
            self._drop_ahead()
            if exc.status != 413 or batch.count == 1:
                raise
            self.limits[lane] = max(1, batch.count // 2)
            log.warning("HQ found %d events of lane %s too large: sending %d at a time", batch.count, lane,
                        self.limits[lane])  # fmt: skip
            return True
        except BaseException:
            self._drop_ahead()
            raise
        if lane in self.refused:
            log.warning("HQ takes lane %s again from seq %d", lane, after)
            del self.refused[lane]
        self.cursors[lane] = cursor
        self.stats["sent"] += batch.count
        self.stats["batches"] += 1
        self.stats["scrubbed"] += batch.scrubbed
        self.unacked[lane] = cursor
        self._flush_acks(force=False)
        return True

    def _waiting_lanes(self) -> frozenset[str]:
        """Lanes HQ refused whose next try is not due yet."""
        now = time.monotonic()
        return frozenset(lane for lane, r in self.refused.items() if now < r["retry_at"])

    def _prepare(self, bus: Any, cursors: dict[str, int], skip: frozenset[str]) -> Prepared | None:
        """The first lane, by priority, with events above ``cursors``: read, scrubbed and encoded.

        The core packs the batch as HQ takes it; only one :mod:`sync.packing` cannot read is read again
        event by event.
        """
        for lane in LANES:
            if lane in skip:
                continue
            after = cursors.get(lane, 0)
            limit = self.limits.get(lane, self.cfg.batch_events)
            packed = self._fetched(lane, after, limit)
            if packed is None:
                packed = bus.request("sync.batch", {"lane": lane, "after": after, "limit": limit, "packed": True})
            if not packed["count"]:
                continue
            if bus is self.reader and packed["count"] == limit:  # a backlog: the core reads on meanwhile
                self._fetch(lane, packed["last"], limit)
            done = packing.unpack(packed)
            if done is not None:
                body, last, count = done
                return Prepared(lane, after, last, packed["count"], count, body)
            batch = bus.request("sync.batch", {"lane": lane, "after": after, "limit": limit, "text": True})
            if not batch["events"]:
                continue
            events, scrubbed = packing.scrubbed(batch["events"])
            body = encode_batch(lane, after, batch["head"], events)
            return Prepared(lane, after, events[-1]["seq"], len(events), scrubbed, body)
        return None

    def _fetch(self, lane: str, after: int, limit: int) -> None:
        """Ask the core for the lane's next packed batch on the third bus client, to be taken by :meth:`_fetched`."""
        if self.fetcher is None or self.fetch_pool is None:
            return
        self._drop_fetched()
        req = {"lane": lane, "after": after, "limit": limit, "packed": True}
        self.fetched = ((lane, after, limit), self.fetch_pool.submit(self.fetcher.request, "sync.batch", req))

    def _fetched(self, lane: str, after: int, limit: int) -> dict[str, Any] | None:
        """The packed batch fetched for exactly this lane, cursor and size, if there is one (else None: ask now)."""
        if self.fetched is None or self.fetched[0] != (lane, after, limit):
            return None
        future, self.fetched = self.fetched[1], None
        try:
            reply: dict[str, Any] = future.result()
        except Exception as exc:  # asked again, on the caller's own client
            log.debug("batch fetched ahead failed: %s", exc)
            return None
        return reply

    def _drop_fetched(self) -> None:
        if self.fetched is not None:
            future, self.fetched = self.fetched[1], None
            try:
                future.result()
            except Exception as exc:
                log.debug("batch fetched ahead failed: %s", exc)

    def _take_ahead(self) -> Prepared | None:
        """The batch read ahead, if it still follows HQ's cursor of its lane and its lane may go."""
        if self.ahead is None:
            return None
        future, self.ahead = self.ahead, None
        batch = future.result()
        assert self.cursors is not None
        waiting = self._waiting_lanes()
        if batch is None or batch.after != self.cursors.get(batch.lane) or set(self.refused) - waiting:
            return None  # read again: the cursors moved, or a refused lane is due to be tried
        return batch

    def _drop_ahead(self) -> None:
        if self.ahead is not None:
            future, self.ahead = self.ahead, None
            try:
                future.result()
            except Exception as exc:  # the batch is read again when it is due
                log.debug("batch read ahead failed: %s", exc)
        self._drop_fetched()

    def _flush_acks(self, *, force: bool) -> None:
        """Tell the core what HQ holds: at once when idle, else at most every ``ACK_EVERY_S`` (each is an fsync)."""
        now = time.monotonic()
        if not self.unacked or (not force and now - self.acked_at < ACK_EVERY_S):
            return
        for lane, seq in list(self.unacked.items()):
            self._acked(lane, seq)
            del self.unacked[lane]
        self.acked_at = now

    def _refuse(self, lane: str, after: int, exc: BatchRefused) -> None:
        first = self.refused.get(lane, {}).get("detail") != str(exc)
        self.refused[lane] = {
            "lane": lane,
            "after": after,
            "seq": exc.seq,
            "field": exc.field,
            "detail": str(exc),
            "retry_at": time.monotonic() + self.cfg.refused_retry_s,
        }
        if first:
            log.error(
                "lane %s stopped at seq %d: %s; the other lanes go on, this one is tried again every %.0f s",
                lane, after, exc, self.cfg.refused_retry_s,
            )  # fmt: skip

    def close(self) -> None:
        """Wait for a batch being read ahead; tell the core what HQ holds."""
        self._drop_ahead()
        for pool in (self.pool, self.fetch_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        try:
            self._flush_acks(force=True)
        except HallError as exc:
            log.warning("could not tell the core HQ's last cursors: %s", exc)

    def refusal(self) -> str | None:
        """The refused lanes in one line (the link's error while any lane is refused)."""
        if not self.refused:
            return None
        return "; ".join(f"lane {r['lane']} stopped at seq {r['after']}: {r['detail']}" for r in self.refused.values())

    def _same_history(self, held: int) -> None:
        """Refuse to go on when HQ holds more of this hall than this box's log ever had: another box's events
        (a replaced box, or HALL_HOME made anew), which this box's would otherwise pass for, unsent. The
        finding is kept (``sync.history``), so it holds once this box's log has grown past what HQ holds."""
        marker = self.home.root / HISTORY_FILE
        head = int(self.bus.request("hall.ping")["seq"])
        try:
            found = json.loads(marker.read_text())
        except (FileNotFoundError, ValueError):
            found = None
        if found is None and held > head:
            found = {"hall": self.cred.hall, "hq_held": held, "box_head": head, "at": time.time()}
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(json.dumps(found))
            tmp.replace(marker)
        if isinstance(found, dict) and found.get("hall") == self.cred.hall:
            raise SyncError(
                f"HQ holds events of hall {self.cred.hall} up to seq {found.get('hq_held')}, beyond this box's log "
                f"(seq {found.get('box_head')}): they are another box's (a replaced box, or HALL_HOME made anew), and "
                f"this box's events would pass for them: nothing is sent until HQ's history of the hall is moved "
                f"aside (then remove {marker})"
            )

    def _acked(self, lane: str, seq: int) -> None:
        self.bus.request("sync.acked", {"lane": lane, "seq": seq, "keep_s": self.cfg.keep_acked_days * 86400})

    # -- the loop ---------------------------------------------------------------
    def run(self) -> None:
        delay = self.cfg.backoff_initial_s
        while not self.stop.is_set():
            sdnotify.alive()
            try:
                progressed = self.step()
                self._periodic()
                refusal = self.refusal()
                self._link(ok=True, error=refusal[:500] if refusal else None)
                delay = self.cfg.backoff_initial_s
                if not progressed:
                    self._idle(1.0)
            except (LinkDown, Refused, AuthError, SyncError, BusError, HallError) as exc:
                self.cursors = None
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("sync failed, retrying in up to %.1f s: %s", delay, self.error)
                try:
                    self._link(ok=False, error=self.error[:500])
                    self._periodic(status_only=True)
                except HallError:
                    pass
                if self._backoff(random.uniform(0, delay)):  # full jitter
                    delay = self.cfg.backoff_initial_s  # a technician asked to retry now
                else:
                    delay = min(self.cfg.backoff_max_s, delay * 2)

    def _backoff(self, seconds: float) -> bool:
        """Wait before retrying; True when ``sync.retry_requested`` came meanwhile (the console's ``sync``)."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            sdnotify.alive()
            if self.wake is None:
                self.stop.wait(min(left, 1.0))
                continue
            env = self.wake.recv(timeout=min(left, 1.0))
            if env is not None and env.get("topic") == RETRY_TOPIC:
                log.info("retrying now, as asked by %s", env.get("source"))
                return True
        return False

    def _idle(self, seconds: float) -> None:
        if self.wake is None:
            self.stop.wait(seconds)
            return
        env = self.wake.recv(timeout=seconds)
        for _ in range(1000):  # drain what else is queued: one round serves them all
            if env is None:
                break
            if env.get("topic") == RETRY_TOPIC:
                self.next_bundle = 0.0  # asked to retry now: ask HQ for a bundle too
            env = self.wake.recv(timeout=0)

    def _link(self, *, ok: bool, error: str | None) -> None:
        if ok:
            self.error = None
        if self.reported != (ok, error):
            self.bus.request("sync.link", {"ok": ok, "error": error, "url": self.client.base})
            self.reported = (ok, error)

    def _periodic(self, *, status_only: bool = False) -> None:
        now = time.monotonic()
        if not status_only and now >= self.next_disk:
            self.next_disk = now + 5.0
            self.check_disk()
        if not status_only and now >= self.next_bundle:
            self.next_bundle = now + self.cfg.bundle_poll_s
            self.pull_keys()
            self.pull_bundle()
            self.pull_repairs()
        if now >= self.next_status:
            self.next_status = now + self.cfg.status_every_s
            self.publish_status()

    def check_disk(self) -> None:
        free_mb = shutil.disk_usage(self.home.root).free / 2**20
        if free_mb < self.cfg.min_free_mb:
            self._drop_ahead()  # what was read ahead may be shed now
            out = self.bus.request("sync.shed", {"max_events": self.cfg.shed_events, "reason": "disk full"})
            log.warning("%.0f MB free: reclaimed %d, shed %d analytics events", free_mb, out["reclaimed"], out["shed"])

    def pull_keys(self) -> None:
        """Install HQ's customer keys when they changed (HQ answers 204 otherwise)."""
        digest = boxkeys.fetch(self.client, self.home, self.keys_digest or "")
        if digest is not None:
            self.keys_digest = digest

    def pull_repairs(self) -> None:
        """Hand HQ's status updates of repair reports to the core, each once (the core skips repeats)."""
        for update in self.client.repair_updates(self.repair_after):
            try:
                self.bus.request("repair.update", update)
            except (InvalidRequest, NotFound, Conflict) as exc:  # one the core cannot take: skipped, said once
                log.error("repair update %s refused by the core: %s", update.get("update_id"), exc)
            self.repair_after = max(self.repair_after, int(update.get("update_id", 0)))

    def pull_bundle(self) -> None:
        current = self.bus.request("bundle.status")["version"] or 0
        bundle = self.client.bundle(current)
        if bundle is None or bundle.get("version") == self.refused_version:
            return
        keys = bundle.pop("customer_keys", None)
        if keys:  # the keys the bundle's references were made with are in force before it is applied
            boxkeys.install(self.home, self.cred.key, self.cred.hall, keys)
            self.keys_digest = keywrap.digest(keys)
        size = len(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_BUNDLE_BYTES:
            error = f"bundle is {size} bytes, more than the core takes in one request ({MAX_BUNDLE_BYTES})"
            self.refused_version = bundle.get("version")
            self.bus.request(
                "event.publish", {"topic": "bundle.refused", "data": {"version": bundle.get("version"), "error": error}}
            )
            result = {"applied": False, "version": bundle.get("version"), "error": error}
        else:
            result = self.bus.request("bundle.apply", {"bundle": bundle}, timeout=30.0)
        if not result["applied"] and result.get("retry"):
            # good, but not now (a customer still waits where it would change): try again next poll
            if self.deferred_version != bundle.get("version"):
                self.deferred_version = bundle.get("version")
                log.warning("bundle %s deferred: %s", bundle.get("version"), result["error"])
                self._report(result, bundle)
            return
        if not result["applied"]:
            self.refused_version = bundle.get("version")
            log.error("bundle %s refused: %s", bundle.get("version"), result["error"])
        self._report(result, bundle)

    def _report(self, result: dict[str, Any], bundle: dict[str, Any]) -> None:
        version = result.get("version") or bundle.get("version")
        if isinstance(version, int) and version >= 1:
            self.client.bundle_result(version, bool(result["applied"]), result.get("error"))

    def publish_status(self) -> None:
        st = self.bus.request("sync.status")
        state = "offline" if self.error is not None else "refused" if self.refused else "online"
        data = {
            "state": state,
            "cursor": st["cursor"],
            "backlog": st["backlog"],
            "last_ack": st["last_ack"],
            "last_error": self.error or self.refusal(),
            "refused": [{k: v for k, v in r.items() if k != "retry_at"} for r in self.refused.values()],
            "bundle": st["bundle"]["version"],
            **self.stats,
        }
        self.bus.request("event.publish", {"topic": "sync.status", "data": data, "durable": False})


def status_main(argv: list[str]) -> int:
    from edge.cli.main import emit, parser, run_with_errors

    p = parser("sync status", "Cursor, backlog, last acknowledgement and last error of the HQ link.")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    def body() -> None:
        from edge.bus import BusClient

        with BusClient("cli") as bus:
            st = bus.request("sync.status")
        link = st.get("link") or {}
        out = {
            "cursor": st["cursor"],
            "head": st["head"],
            "backlog": st["backlog"],
            "last_ack": st["last_ack"],
            "last_error": link.get("error"),
            "link_ok": link.get("ok"),
            "lanes": st["lanes"],
            "bundle": st["bundle"],
        }
        emit(out, a.json, _human)

    return run_with_errors(body)


def _human(st: dict[str, Any]) -> str:
    lines = [
        f"cursor {st['cursor']} of {st['head']}, backlog {st['backlog']}",
        f"last acknowledgement: {st['last_ack'] or 'never'}",
        f"last error: {st['last_error'] or 'none'}",
        f"bundle: {st['bundle']['version'] or 'none'}",
    ]
    return "\n".join(lines)


def credential_main(argv: list[str]) -> int:
    from edge.cli.main import parser, run_with_errors

    p = parser("sync credential", "Store the credential that `hall hq hall add` printed (FILE, or - for stdin).")
    p.add_argument("file")
    a = p.parse_args(argv)

    def body() -> None:
        if a.file == "-":
            text = sys.stdin.read()
        else:
            with open(a.file, encoding="utf-8") as fh:
                text = fh.read()
        path = save_credential(Home.from_env(), Credential.from_json(text.strip()))
        print(f"stored in {path}")

    return run_with_errors(body)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["status"]:
        return status_main(args[1:])
    if args[:1] == ["credential"]:
        return credential_main(args[1:])
    p = argparse.ArgumentParser(
        prog="hall sync",
        description="Ship the hall's log to HQ and apply HQ's bundles. Subcommands: status [--json], credential FILE.",
    )
    p.add_argument("--config", help="hall config file (TOML)")
    a = p.parse_args(args[1:] if args[:1] == ["run"] else args)
    return run(a.config)


def run(config_path: str | None) -> int:
    from edge.bus import BusClient, Subscriber
    from edge.proc import start
    from sync.client import HqClient

    started = start("hall sync", config_path, "sync", SyncConfig)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    home, cfg, scfg = started.home, started.config, started.settings
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cred = load_credential(home)
    demo_hq: subprocess.Popen[bytes] | None = None
    if cred is None and os.environ.get("HALL_DEMO") == "1":
        from sync.demo import start_demo_hq

        demo_hq, cred = start_demo_hq(home, cfg.hall.id)
        log.info("demo: syncing with a local HQ at %s", cred.url)
    sdnotify.ready("waiting for a credential" if cred is None else f"hall {cred.hall}")
    if cred is None:
        log.info("no HQ credential (%s): run `hall sync credential FILE`; waiting", home.root / "sync.credential")
    while cred is None and not stop.is_set():
        sdnotify.alive()
        stop.wait(1.0)
        cred = load_credential(home)
    if cred is None:
        return 0
    if cred.hall != cfg.hall.id:
        print(f"hall sync: the credential is for hall {cred.hall}, this hall is {cfg.hall.id}", file=sys.stderr)
        return 2
    client = HqClient(cred, url=None if demo_hq else scfg.url, timeout=scfg.timeout_s)
    try:
        with (
            BusClient("sync", timeout=10.0, retries=2) as bus,
            BusClient("sync-read", timeout=10.0, retries=2) as reader,
            BusClient("sync-fetch", timeout=10.0, retries=2) as fetcher,
            Subscriber([""]) as sub,
        ):
            agent = Agent(scfg, cred, bus, client, home=home, stop=stop, wake=sub, reader=reader, fetcher=fetcher)
            log.info("hall %s syncing with %s", cred.hall, client.base)
            try:
                agent.run()
            finally:
                agent.close()
    finally:
        client.close()
        if demo_hq is not None:
            demo_hq.terminate()
            demo_hq.wait(10)
    return 0
