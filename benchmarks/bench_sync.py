"""HQ sync: draining a backlog over loopback, beside the raw insert rate of the HQ store.

A hall whose link was down has N events in its log (tickets, evaluations,
analytics aggregates and a few alerts, written straight into hall.db before the
core starts). Then the real processes run: the core, ``hall hq serve`` on
loopback and ``hall sync``; the drain rate is N over the time from the agent's
start until HQ holds every event. In the same run, the same events are inserted
into a fresh HQ store of the same kind directly (``Store.ingest``, same batch
size, no HTTP, no core): the ceiling. The ratio says what the whole path costs.

    .venv/bin/python benchmarks/bench_sync.py [--events 1000000] [--batch 5000] [--db postgresql://…]

Both stores are measured side by side: SQLite files, and PostgreSQL (the server
``--db`` names, else a throw-away one started from Debian's binaries as the tests
do; ``--only sqlite`` skips it). The last line is one JSON object with both.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edge.paths import Home
from edge.schemas.sync import LANES, lane_of
from edge.storage import Database

HALL = "demo-001"


def event_for(i: int) -> tuple[str, dict[str, Any]]:
    if i % 200 == 0:
        return "alert.raised", {"rule": "longest_wait", "key": f"longest_wait:A{i}", "message": "A 等候超过 20 分钟"}
    if i % 4 == 1:
        return "flow.counted", {"zone": "entrance", "in": i % 7, "out": i % 5, "minute": i}
    if i % 10 == 3:
        return "evaluation.recorded", {"number": f"A{i % 1000:03d}", "score": 5, "reasons": [], "counter": "1"}
    return "ticket.issued", {
        "id": hashlib.md5(str(i).encode()).hexdigest(),
        "number": f"A{i % 1000:03d}",
        "business": "A",
        "business_name": "电费缴纳",
        "state": "issued",
        "priority": "normal",
        "people_ahead": i % 9,
        "estimated_wait_minutes": 12,
        "tags": [],
        "channel": "kiosk",
    }


def fill_log(home: Home, n: int) -> None:
    db = Database(home.db_path)
    db.begin()
    for i in range(1, n + 1):
        topic, data = event_for(i)
        db.append_event(topic, data, source="core")
        if i % 100_000 == 0:
            db.commit()
            db.begin()
    db.commit()
    db.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def hall(*args: str, env: dict[str, str], stdin: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "edge", *args], env=env, input=stdin, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"hall {' '.join(args)}: {out.stderr}")
    return out.stdout


def drain(root: Path, n: int, batch: int, db_url: str) -> tuple[float, int]:
    import httpx

    from sync.config import Credential

    home = Home(root / "home").ensure()
    t0 = time.perf_counter()
    fill_log(home, n)
    print(f"log of {n} events written in {time.perf_counter() - t0:.1f} s", flush=True)
    home.config_path.write_text(f"[services.sync]\nbatch_events = {batch}\nstatus_every_s = 5\n")
    env = {**os.environ, "HALL_HOME": str(home.root)}
    port = free_port()
    store_args = ["--db", db_url, "--key-file", str(root / "hq.key")]
    procs = [
        subprocess.Popen([sys.executable, "-m", "edge", "core"], env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [sys.executable, "-m", "edge", "hq", "serve", "--port", str(port), *store_args],
            env=env,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        wait(lambda: _up(httpx, url), 60, "HQ")
        cred = Credential.from_json(hall("hq", "hall", "add", HALL, "--url", url, *store_args, env=env))
        hall("sync", "credential", "-", env=env, stdin=cred.to_json())
        wait(lambda: (home.run_dir / "requests.sock").exists(), 60, "the core")
        start = time.perf_counter()
        procs.append(subprocess.Popen([sys.executable, "-m", "edge", "sync"], env=env, stderr=subprocess.DEVNULL))
        last, shown = 0, start
        with held_at_hq(db_url) as held:  # read from HQ's store, as no hall's request: HQ's API is left alone
            while last < n:
                time.sleep(0.05)
                last = held()
                if time.perf_counter() - shown >= 2:
                    shown = time.perf_counter()
                    print(f"  HQ holds {last}/{n}", flush=True)
            elapsed = time.perf_counter() - start
        return elapsed, last
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait(30)


@contextlib.contextmanager
def held_at_hq(db_url: str) -> Iterator[Callable[[], int]]:
    """How many events HQ's store holds of the hall, read on a connection of its own (reads take no lock)."""
    from sync.hq.dialect import sqlite_path

    if db_url.startswith(("postgresql://", "postgres://")):
        import psycopg

        conn: Any = psycopg.connect(db_url, autocommit=True)
        mark = "%s"
    else:
        conn = sqlite3.connect(sqlite_path(db_url), isolation_level=None)
        mark = "?"

    def held() -> int:
        row = conn.execute(f"SELECT held FROM halls WHERE hall = {mark}", (HALL,)).fetchone()
        return int(row[0]) if row else 0

    try:
        yield held
    finally:
        conn.close()


def _up(httpx: Any, url: str) -> bool:
    try:
        return bool(httpx.get(url + "/healthz", timeout=1).status_code == 200)
    except httpx.HTTPError:
        return False


def raw_insert(root: Path, n: int, batch: int, db_url: str) -> float:
    """Seconds to ingest the same events straight into a fresh store, lane by lane in batches."""
    from sync.hq.store import open_store

    store = open_store(db_url, key_file=root / "raw.key")
    store.add_hall(HALL, bytes(32))
    events: dict[str, list[dict[str, Any]]] = {lane: [] for lane in LANES}
    for i in range(1, n + 1):
        topic, data = event_for(i)
        ts = "2026-11-25T01:00:00.000+00:00"
        env = {"v": 1, "id": f"e{i}", "ts": ts, "source": "core", "topic": topic, "data": data, "seq": i}
        events[lane_of(topic)].append(env)
    start = time.perf_counter()
    for lane in LANES:
        todo, after = events[lane], 0
        for k in range(0, len(todo), batch):
            chunk = todo[k : k + batch]
            after = store.ingest(HALL, lane, after, n, chunk, now=time.time())
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def fresh_db(url: str | None, root: Path, name: str) -> str:
    if not url:
        return str(root / "sqlite" / f"{name}.db")
    import psycopg

    dbname = f"bench_{name}_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {dbname}")
        conn.execute(f"CREATE DATABASE {dbname}")
    return url.rsplit("/", 1)[0] + "/" + dbname


def measure(root: Path, events: int, batch: int, server: str | None, name: str) -> dict[str, Any]:
    """Drain and raw insert on one kind of store, in the same run."""
    elapsed, held = drain(root / name, events, batch, fresh_db(server, root, f"drain_{name}"))
    raw = raw_insert(root / name, events, batch, fresh_db(server, root, f"raw_{name}"))
    drain_rate, raw_rate = held / elapsed, events / raw
    print(f"{name}: drain over loopback {drain_rate:,.0f} events/s ({held} events in {elapsed:.1f} s); "
          f"raw store insert {raw_rate:,.0f} events/s ({raw:.1f} s); ratio {drain_rate / raw_rate:.3f}", flush=True)  # fmt: skip
    return {
        "drain_s": round(elapsed, 1),
        "drain_events_per_s": round(drain_rate),
        "raw_insert_s": round(raw, 1),
        "raw_insert_events_per_s": round(raw_rate),
        "ratio": round(drain_rate / raw_rate, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--batch", type=int, default=5000, help="events per batch (agent and raw insert alike)")
    p.add_argument("--db", help="a PostgreSQL server URL (a database is made per run); default a throw-away server")
    p.add_argument("--only", choices=("sqlite", "postgresql"), help="measure one store only")
    a = p.parse_args()
    stores: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        if a.only != "postgresql":
            (root / "sqlite").mkdir()
            stores["sqlite"] = measure(root, a.events, a.batch, None, "sqlite")
        if a.only != "sqlite":
            pg = None
            server = a.db
            if server is None:
                from bench_fleet import start_postgres

                pg, server = start_postgres(root)
            try:
                (root / "postgresql").mkdir()
                stores["postgresql"] = measure(root, a.events, a.batch, server, "postgresql")
            finally:
                if pg is not None:
                    pg.stop()
    print(json.dumps({"events": a.events, "batch": a.batch, **stores}))


if __name__ == "__main__":
    main()
