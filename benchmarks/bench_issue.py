"""Ticket issue over the real bus: latency (p50, p99) and throughput with 1, 8 and 32 clients.

Beside it, in the same run and on the same disk, the cost of one fsynced SQLite
transaction (WAL, synchronous=FULL, one row): the floor of any durable write.
Each client is its own process with its own socket; every reply is durable
when it arrives (the core fsyncs before answering), so group commit is what
lets throughput exceed 1 / fsync-cost.

    .venv/bin/python benchmarks/bench_issue.py [--requests 300] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def fsync_baseline(directory: Path, n: int = 200) -> float:
    """Median seconds for one committed, fsynced single-row transaction."""
    db = sqlite3.connect(directory / "baseline.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, data TEXT)")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t (data) VALUES (?)", (f"row {i}" * 20,))
        db.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    db.close()
    return statistics.median(times)


def client(home: str, requests: int, barrier: mp.synchronize.Barrier, out: mp.Queue) -> None:  # type: ignore[type-arg]
    os.environ["HALL_HOME"] = home
    from edge.bus import BusClient

    with BusClient("bench", timeout=10, retries=0) as bus:
        bus.request("hall.ping")
        barrier.wait()
        lat = []
        for i in range(requests):
            t0 = time.perf_counter()
            bus.request("ticket.issue", {"business": "ABCD"[i % 4]})
            lat.append(time.perf_counter() - t0)
    out.put(lat)


def run(home: str, clients: int, requests: int) -> tuple[list[float], float]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=client, args=(home, requests, barrier, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter()
    lat: list[float] = []
    for _ in procs:
        lat += out.get()
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return lat, wall


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300, help="requests per client")
    ap.add_argument("--clients", default="1,8,32")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hall-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "HALL_HOME": str(home)}
        core = subprocess.Popen([sys.executable, "-m", "edge", "core"], env=env, stderr=subprocess.DEVNULL)
        try:
            os.environ["HALL_HOME"] = str(home)
            from edge.bus import BusClient

            with BusClient("bench", timeout=0.5, retries=40) as bus:
                bus.request("hall.ping")
            base = fsync_baseline(Path(tmp))
            print(
                f"fsynced SQLite transaction (baseline): {base * 1000:.2f} ms  → {1 / base:.0f} durable writes/s alone"
            )
            print(
                f"{'clients':>7} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'p50/fsync':>9} {'req/s × fsync':>13}"
            )
            for n in (int(x) for x in a.clients.split(",")):
                with BusClient("bench") as bus:
                    before = bus.request("hall.ping")["stats"]
                lat, wall = run(str(home), n, a.requests)
                with BusClient("bench") as bus:
                    after = bus.request("hall.ping")["stats"]
                rate = len(lat) / wall
                p50, p99 = pct(lat, 0.5), pct(lat, 0.99)
                batches = after["batches"] - before["batches"]
                per_batch = (after["requests"] - before["requests"]) / max(1, batches)
                print(
                    f"{n:>7} {len(lat):>8} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {rate:>8.0f} {p50 / base:>9.2f}"
                    f" {rate * base:>13.2f}   ({per_batch:.1f} requests per commit)"
                )
        finally:
            core.terminate()
            core.wait()
    print("req/s × fsync > 1 means group commit shares one fsync among several requests.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
