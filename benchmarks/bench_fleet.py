"""2,000 halls pushing to one HQ at once: several ``hall hq serve`` workers on one PostgreSQL.

Each simulated hall is what its agent is on the wire: signed, gzip-compressed
batches of events (tickets, evaluations, analytics, an alert now and then) in
lane order, each following HQ's cursor. The halls are spread over client
processes (asyncio, one connection per hall) and over the HQ workers round-robin,
as a load balancer would. All halls start together; the figures are HQ's
ingest throughput (events stored per second, from the first request to the
last answer) and the latency of one batch (request sent → HQ's answer), p50
and p99. In the same run, the raw insert rate of the same store (``Store.ingest``
from one process, no HTTP) is the baseline.

    .venv/bin/python benchmarks/bench_fleet.py [--halls 2000] [--workers 4] [--batches 5] [--events 50]
                                               [--db postgresql://…]

Without ``--db`` a throw-away PostgreSQL server is started (Debian's binaries, as the tests do).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import multiprocessing
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_sync import event_for

from edge.schemas.sync import lane_of


def hall_events(batches: int, per_batch: int) -> list[tuple[str, int, list[dict[str, Any]]]]:
    """One hall's log cut into batches of one lane each, in the order its agent would send them."""
    by_lane: dict[str, list[dict[str, Any]]] = {"alerts": [], "records": [], "analytics": []}
    n = batches * per_batch
    for i in range(1, n + 1):
        topic, data = event_for(i)
        env = {"v": 1, "id": f"e{i}", "ts": "2026-11-25T01:00:00.000+00:00", "source": "core", "topic": topic,
               "data": data, "seq": i}  # fmt: skip
        by_lane[lane_of(topic)].append(env)
    out = []
    for lane, events in by_lane.items():
        for k in range(0, len(events), per_batch):
            out.append((lane, n, events[k : k + per_batch]))
    return out


async def run_halls(halls: list[tuple[str, bytes, str]], plan: Any, start_at: float, out: Any) -> None:
    """Each hall with a client of its own, as its agent has (one pool of a thousand connections is quadratic)."""
    import httpx

    latencies: list[float] = []
    stored = 0
    errors = 0
    tls = ssl.create_default_context()  # unused over http://, but each client would otherwise make one of its own

    async def one(hall: str, key: bytes, url: str) -> None:
        nonlocal stored, errors
        async with httpx.AsyncClient(timeout=300, verify=tls, limits=httpx.Limits(max_connections=1)) as client:
            for n, latency in [x async for x in send_all(client, hall, key, url, plan)]:
                if latency is None:
                    errors += 1
                else:
                    latencies.append(latency)
                    stored += n

    await asyncio.sleep(max(0.0, start_at - time.time()))
    await asyncio.gather(*(one(h, k, u) for h, k, u in halls), return_exceptions=True)
    out.put((latencies, stored, errors, time.time()))


async def send_all(client: Any, hall: str, key: bytes, url: str, plan: Any) -> Any:
    """One hall's batches in order, each following HQ's cursor: (events stored, latency) or (0, None) per failure."""
    import httpx

    from sync import auth

    cursors = {"alerts": 0, "records": 0, "analytics": 0}
    for lane, head, events in plan:
        body = {"lane": lane, "after": cursors[lane], "head": head, "events": events}
        raw = gzip.compress(json.dumps(body, separators=(",", ":")).encode(), compresslevel=1)
        path = f"/v1/halls/{hall}/events"
        for attempt in range(8):  # as the agent does: a failed batch is sent again after a pause
            headers = {"content-type": "application/json", "content-encoding": "gzip",
                       **auth.sign_request(key, "POST", path, hall, raw)}  # fmt: skip
            t0 = time.perf_counter()
            try:
                resp = await client.post(url + path, content=raw, headers=headers)
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code == 200:
                cursors[lane] = resp.json()["cursor"]
                yield len(events), time.perf_counter() - t0
                break
            yield 0, None
            await asyncio.sleep(0.2 * 2**attempt)
        else:
            return


def client_main(halls: list[tuple[str, bytes, str]], batches: int, per_batch: int, start_at: float, out: Any) -> None:
    asyncio.run(run_halls(halls, hall_events(batches, per_batch), start_at, out))


def start_postgres(root: Path) -> tuple[Any, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("TMPDIR", str(root))
    from tests.sync.conftest import Postgres

    pg = Postgres()
    return pg, pg.new_database()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--halls", type=int, default=2000)
    p.add_argument("--workers", type=int, default=4, help="hall hq serve processes on the one store")
    p.add_argument("--clients", type=int, default=2, help="processes simulating the halls")
    p.add_argument("--batches", type=int, default=5, help="batches each hall sends")
    p.add_argument("--events", type=int, default=50, help="events per batch")
    p.add_argument("--db", help="a PostgreSQL database URL (default: a throw-away server)")
    a = p.parse_args()
    from bench_sync import free_port, wait

    from sync.hq.store import open_store

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        root = Path(tmp)
        pg, url = (None, a.db) if a.db else start_postgres(root)
        key_file = root / "hq.key"
        procs: list[subprocess.Popen[bytes]] = []
        try:
            store = open_store(url, key_file=key_file)
            keys = {f"h{i:04d}": os.urandom(32) for i in range(a.halls)}
            t0 = time.perf_counter()
            for hall, key in keys.items():
                store.add_hall(hall, key, region=f"r{int(hall[1:]) % 20:02d}")
            print(f"{a.halls} halls registered in {time.perf_counter() - t0:.1f} s", flush=True)
            store.close()
            ports = [free_port() for _ in range(a.workers)]
            for port in ports:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "edge", "hq", "serve", "--port", str(port), "--db", url,
                     "--key-file", str(key_file)], stderr=subprocess.DEVNULL))  # fmt: skip
            import httpx

            for port in ports:
                wait(lambda port=port: _up(httpx, f"http://127.0.0.1:{port}"), 60, "an HQ worker")
            halls = [(h, k, f"http://127.0.0.1:{ports[i % len(ports)]}") for i, (h, k) in enumerate(keys.items())]
            out: Any = multiprocessing.Queue()
            start_at = time.time() + 3.0 + a.halls / 2000
            clients = [multiprocessing.Process(target=client_main, args=(halls[c :: a.clients], a.batches,
                                                                         a.events, start_at, out))
                       for c in range(a.clients)]  # fmt: skip
            for c in clients:
                c.start()
            results = [out.get(timeout=1800) for _ in clients]
            for c in clients:
                c.join()
            elapsed = max(r[3] for r in results) - start_at
            latencies = sorted(x for r in results for x in r[0])
            stored = sum(r[1] for r in results)
            errors = sum(r[2] for r in results)
            raw_url = pg.new_database() if pg else url
            raw = raw_rate(raw_url, root / "raw.key", a.batches, a.events)
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            if pg is not None:
                pg.stop()
    rate = stored / elapsed
    result = {
        "halls": a.halls,
        "workers": a.workers,
        "events": stored,
        "retries": errors,
        "seconds": round(elapsed, 1),
        "events_per_s": round(rate),
        "batch_p50_ms": round(statistics.median(latencies) * 1000),
        "batch_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
        "raw_insert_events_per_s": round(raw),
        "ratio": round(rate / raw, 3),
    }
    print(f"{a.halls} halls, {a.workers} HQ workers on one PostgreSQL: {stored} events in {elapsed:.1f} s "
          f"({rate:,.0f} events/s), {errors} batches sent again (connection dropped or refused)")  # fmt: skip
    print(f"one batch of {a.events} events: p50 {result['batch_p50_ms']} ms, p99 {result['batch_p99_ms']} ms")
    print(f"raw store insert, one process: {raw:,.0f} events/s")
    print(json.dumps(result))


def raw_rate(url: str, key_file: Path, batches: int, per_batch: int) -> float:
    """Events per second ``Store.ingest`` takes straight from one process, in the same batches, 50 halls."""
    from sync.hq.store import open_store

    store = open_store(url, key_file=key_file)
    plan = hall_events(batches, per_batch)
    halls = [f"raw{i:03d}" for i in range(50)]
    for hall in halls:
        store.add_hall(hall, bytes(32))
    start = time.perf_counter()
    n = 0
    for hall in halls:
        cursors = {"alerts": 0, "records": 0, "analytics": 0}
        for lane, head, events in plan:
            cursors[lane] = store.ingest(hall, lane, cursors[lane], head, events, now=time.time())
            n += len(events)
    elapsed = time.perf_counter() - start
    store.close()
    return n / elapsed


def _up(httpx: Any, url: str) -> bool:
    try:
        return bool(httpx.get(url + "/healthz", timeout=1).status_code == 200)
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
