"""History import and export over the real bus, and what the queue feels meanwhile.

A core runs in a temporary HALL_HOME. A CSV of ``--rows`` visits is imported with
``hall history import`` (checked, sent in chunks, committed in one transaction),
then imported again (every row already there), then exported. While the first
import runs, a client times ``ticket.issue`` requests; the baseline is the same
client timing the same requests in the same run with no import going on.

    .venv/bin/python benchmarks/bench_history.py [--rows 150000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path


def write_csv(path: Path, rows: int) -> None:
    cst = timezone(timedelta(hours=8))
    first = datetime(2025, 1, 2, 9, tzinfo=cst)
    with path.open("w", encoding="utf-8") as f:
        f.write("business,issued_at,called_at,finished_at,counter,staff,rating\n")
        for i in range(rows):
            at = first + timedelta(days=i // 500, seconds=(i % 500) * 60)
            called, done = at + timedelta(minutes=3), at + timedelta(minutes=8)
            rating = "" if i % 3 else "5"
            f.write(
                f"{'ABCD'[i % 4]},{at.isoformat()},{called.isoformat()},{done.isoformat()},{1 + i % 4},员工{i % 7},{rating}\n"
            )


def issue_latencies(stop: threading.Event, out: list[float], limit_s: float) -> None:
    from edge.bus import BusClient

    end = time.monotonic() + limit_s
    with BusClient("bench") as bus:
        while not stop.is_set() and time.monotonic() < end:
            t0 = time.perf_counter()
            bus.request("ticket.issue", {"business": "A"})
            out.append(time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=150_000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hall-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "HALL_HOME": str(home)}
        os.environ["HALL_HOME"] = str(home)
        csv = Path(tmp) / "history.csv"
        write_csv(csv, a.rows)
        size = csv.stat().st_size
        core = subprocess.Popen([sys.executable, "-m", "edge", "core"], env=env, stderr=subprocess.DEVNULL)
        try:
            from edge.bus import BusClient

            with BusClient("bench", timeout=0.5, retries=40) as bus:
                bus.request("hall.ping")
            quiet: list[float] = []
            issue_latencies(threading.Event(), quiet, 3.0)
            busy: list[float] = []
            stop = threading.Event()
            watcher = threading.Thread(target=issue_latencies, args=(stop, busy, 600.0))
            watcher.start()
            hall = [sys.executable, "-m", "edge"]
            first = timed([*hall, "history", "import", str(csv)], env)
            stop.set()
            watcher.join()
            again = timed([*hall, "history", "import", str(csv)], env)
            export = timed([*hall, "history", "export", "--out", str(Path(tmp) / "out.csv")], env)
        finally:
            core.terminate()
            core.wait()
    print(f"{a.rows} rows ({size / 1e6:.1f} MB):")
    print(
        f"  import {first:6.1f} s ({a.rows / first:,.0f} rows/s), again (nothing new) {again:.1f} s, export {export:.1f} s"
    )
    print(f"{'ticket.issue':<28}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, lat in (("with no import (baseline)", quiet), ("during the first import", busy)):
        print(f"{name:<28}{len(lat):>6}{pct(lat, 0.5) * 1000:9.1f}{pct(lat, 0.99) * 1000:9.1f}{max(lat) * 1000:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
