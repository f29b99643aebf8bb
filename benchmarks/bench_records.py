"""Signed records over the real bus: signing one (digest, PNG, fsync) and verifying a whole day's chain.

The core serves requests one batch at a time, so a long ``record.verify`` holds
the queue for its duration: this measures it for a day of N records of a
typical signature (~900 points), beside, in the same run, the baseline of
reading the same rows back with one SQL query (what any verification must at
least do) and a ``hall.ping`` round trip.

    .venv/bin/python benchmarks/bench_records.py [--records 300]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.bus import BusClient, Endpoints  # noqa: E402
from edge.errors import BusError  # noqa: E402
from edge.identity import load_key, make_ref  # noqa: E402
from edge.paths import Home  # noqa: E402


def at_counter(bus: BusClient, home: Home) -> dict[str, object]:
    """Counter 2 open with a customer called; the values of the 更名 form for them."""
    key = load_key(home.secret_path)
    bus.request("counter.open", {"counter": "2", "staff": "王芳"})
    bus.request("ticket.issue", {"business": "C", "customer": make_ref("id", "11010519491231002X", key=key).to_dict()})
    bus.request("counter.call", {"counter": "2"})
    holder = make_ref("id", "110101199003071233", key=key)
    return {
        "account": "3301004277",
        "old_name": "王五",
        "new_name": "赵六",
        "new_holder_id": {"masked": holder.masked, "hash": holder.hash},
        "phone": "13800138000",
        "address": "示范市城东区解放路36号",
        "reason": "继承",
    }


def strokes() -> list[list[list[int | None]]]:
    """Nine strokes of 100 points each, 10 ms apart: a name written in a few seconds."""
    out, t = [], 0
    for k in range(9):
        stroke: list[list[int | None]] = []
        for i in range(100):
            stroke.append([60 + k * 100 + i, 100 + (i * 7 + k * 13) % 200, t, 400 + i])
            t += 10
        out.append(stroke)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--records", type=int, default=300, help="records signed in the day")
    a = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="br", dir="/tmp"))
    home = Home(root).ensure()
    env = {**os.environ, "HALL_HOME": str(root)}
    env.pop("HALL_CONFIG", None)
    core = subprocess.Popen([sys.executable, "-m", "edge", "core"], env=env, stderr=subprocess.DEVNULL)
    try:
        with BusClient("bench", endpoints=Endpoints.local(home), timeout=30.0, retries=0) as bus:
            for _ in range(200):
                try:
                    bus.request("hall.ping")
                    break
                except BusError:
                    time.sleep(0.05)  # the core is starting
            values = at_counter(bus, home)
            sig = {"width": 1000, "height": 400, "strokes": strokes()}
            signing = []
            for _ in range(a.records):
                form = bus.request("form.push", {"counter": "2", "form": "name_change", "values": values})
                bus.request("form.confirm", {"form_id": form["id"]})
                t0 = time.perf_counter()
                bus.request("form.sign", {"form_id": form["id"], "signature": sig})
                signing.append(time.perf_counter() - t0)
            pings, verifies = [], []
            for _ in range(20):
                t0 = time.perf_counter()
                bus.request("hall.ping")
                pings.append(time.perf_counter() - t0)
            for _ in range(5):
                t0 = time.perf_counter()
                report = bus.request("record.verify")
                verifies.append(time.perf_counter() - t0)
            assert report["ok"] and report["records"] == a.records
        reads = []
        db = sqlite3.connect(home.db_path)
        for _ in range(5):
            t0 = time.perf_counter()
            rows = db.execute("SELECT body, rendered FROM records ORDER BY n").fetchall()
            reads.append(time.perf_counter() - t0)
        size = sum(len(r[0]) for r in rows) / len(rows)
        db.close()
    finally:
        core.terminate()
        core.wait(10)
        shutil.rmtree(root, ignore_errors=True)
    ms = 1000.0
    print(f"records: {a.records} in one day, {size / 1024:.0f} KiB of canonical JSON each (900 points)")
    print(f"sign one (check, render PNG, digest, fsync), median: {statistics.median(signing) * ms:7.1f} ms")
    print(f"verify the day's chain over the bus, median:        {statistics.median(verifies) * ms:7.1f} ms")
    print(f"baseline: read the same rows with one query:         {statistics.median(reads) * ms:7.1f} ms")
    print(f"baseline: hall.ping round trip:                      {statistics.median(pings) * ms:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
