"""Garbage from several clients while others take tickets, and the core killed with SIGKILL in the middle.

Every acknowledged ticket is on disk with its number, numbers run 1, 2, 3… per business with no gap,
every garbage message that got an answer got an error, and between kills it is the same core process
that answers: nothing a client sends stops it.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict

import pytest
import zmq

from edge import envelope
from edge.bus import BusClient, Endpoints
from edge.errors import BusTimeout
from edge.storage import Database
from tests.conftest import CoreProcess
from tests.edge.test_bad_requests import BAD

pytestmark = pytest.mark.process

ISSUERS = 3
ATTACKERS = 3


def _garbage(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.6:
        return rng.choice(BAD)[1]
    if kind < 0.8:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    good = envelope.encode(envelope.make("ticket.issue", {"business": "A"}, source="x"))
    cut = rng.randrange(len(good))
    return good[:cut] + bytes([rng.getrandbits(8)]) + good[cut + 1 :]  # one byte changed


def test_garbage_in_parallel_and_kill_9_lose_no_ticket(core: CoreProcess) -> None:
    done = threading.Event()
    lock = threading.Lock()
    acked: list[dict[str, str]] = []
    answered: list[dict[str, object]] = []
    errors: list[BaseException] = []

    def issuer(n: int) -> None:
        rng = random.Random(n)
        try:
            with BusClient(f"issuer{n}", endpoints=Endpoints.local(core.home), timeout=0.5, retries=0) as bus:
                while not done.is_set():
                    request_id, business = uuid.uuid4().hex, rng.choice("ABC")
                    while True:
                        try:
                            t = bus.request("ticket.issue", {"business": business}, request_id=request_id)
                            break
                        except BusTimeout:
                            continue  # the core is being restarted: the same request again
                    with lock:
                        acked.append({"id": t["id"], "number": t["number"]})
        except BaseException as exc:
            errors.append(exc)

    def attacker(n: int) -> None:
        rng = random.Random(100 + n)
        sock: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(core.home.requests_endpoint)
        try:
            while not done.is_set():
                sock.send(_garbage(rng))
                if sock.poll(500):
                    reply = envelope.parse(sock.recv(), max_depth=64)["data"]
                    with lock:
                        answered.append(reply)
        except BaseException as exc:
            errors.append(exc)
        finally:
            sock.close()

    threads = [threading.Thread(target=issuer, args=(n,)) for n in range(ISSUERS)]
    threads += [threading.Thread(target=attacker, args=(n,)) for n in range(ATTACKERS)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            done.wait(1.5)
            with BusClient("probe", endpoints=Endpoints.local(core.home), timeout=3.0) as bus:
                assert core.proc is not None and bus.request("hall.ping")["pid"] == core.proc.pid
            core.kill9()
            core.start()
        before = len(acked)
        done.wait(1.5)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    assert len(acked) > before > 0
    assert len(answered) > 100
    accepted = [r for r in answered if r.get("ok")]
    # a garbled byte can still leave a valid ticket.issue: those are tickets too, and must be on disk
    assert all(not r["ok"] and r["error"]["code"] in ("invalid", "not_found") for r in answered if r not in accepted)
    acked += [{"id": r["result"]["id"], "number": r["result"]["number"]} for r in accepted]  # type: ignore[index]
    core.stop()
    db = Database(core.home.db_path, readonly=True)
    rows = {r["id"]: r for r in db.all("SELECT id, day, series, seq, number FROM tickets WHERE parent_id IS NULL")}
    for t in acked:
        assert t["id"] in rows and rows[t["id"]]["number"] == t["number"], f"acknowledged {t['number']} lost"
    per_series: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows.values():
        per_series[(r["day"], r["series"])].append(r["seq"])
    for key, seqs in per_series.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"numbers of {key} have a gap or repeat"
    db.close()
