"""A real core killed with SIGKILL while clients issue tickets: nothing acknowledged is lost, no number twice.

Several clients issue tickets concurrently over the real bus; the core is
killed at random moments and restarted. Every ticket whose reply a client
received must be in the database with that number, and the numbers of each
business must run 1, 2, 3… with no gap and no repeat.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict

import pytest

from edge.bus import BusClient, Endpoints
from edge.errors import BusTimeout
from edge.storage import Database
from tests.conftest import CoreProcess

pytestmark = pytest.mark.process

CLIENTS = 6
KILLS = 5


def test_acknowledged_tickets_survive_kill_9(core: CoreProcess) -> None:
    acked: list[dict[str, str]] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []
    retried = [0]

    def client(n: int) -> None:
        rng = random.Random(n)
        try:
            with BusClient(f"client{n}", endpoints=Endpoints.local(core.home), timeout=0.4, retries=0) as bus:
                while not done.is_set():
                    request_id = uuid.uuid4().hex
                    business = rng.choice("ABCD")
                    while True:  # retry the same request until it is acknowledged
                        try:
                            t = bus.request("ticket.issue", {"business": business}, request_id=request_id)
                            break
                        except BusTimeout:
                            retried[0] += 1
                            continue
                    with lock:
                        acked.append({"id": t["id"], "number": t["number"], "day": t["day"], "business": business})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    kills = 0
    while kills < KILLS:
        done.wait(rng.uniform(0.2, 0.8))
        core.kill9()
        kills += 1
        core.start()
    before = len(acked)
    done.wait(0.5)
    done.set()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(acked) > before > 0, "clients did not keep issuing across the restarts"
    assert retried[0] > 0, "no request was in flight when the core died"

    core.stop()
    db = Database(core.home.db_path, readonly=True)
    rows = {r["id"]: r for r in db.all("SELECT id, day, series, seq, number FROM tickets WHERE parent_id IS NULL")}
    for t in acked:
        assert t["id"] in rows, f"acknowledged ticket {t['number']} was lost"
        assert rows[t["id"]]["number"] == t["number"]
    assert len({t["id"] for t in acked}) == len(acked), "one acknowledged ticket given twice"
    per_series: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows.values():
        per_series[(r["day"], r["series"])].append(r["seq"])
    for key, seqs in per_series.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), f"numbers of {key} have a gap or repeat"
    # the log holds one ticket.issued per ticket, in the same order as the numbers
    issued = db.events_since(0, limit=100_000, topic_prefix="ticket.issued")
    assert sorted(e["data"]["id"] for e in issued) == sorted(rows)
    db.close()
