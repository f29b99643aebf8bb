"""How fast ``hall --help`` answers, beside a bare Python start measured in the same run.

.venv/bin/python benchmarks/bench_cli.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_run(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args()
    base = median_run([sys.executable, "-c", "pass"], a.runs)
    hall = median_run([sys.executable, "-m", "edge", "--help"], a.runs)
    status = median_run([sys.executable, "-m", "edge", "ticket", "--help"], a.runs)
    print(f"python -c pass (baseline): {base * 1000:7.1f} ms")
    print(f"hall --help:               {hall * 1000:7.1f} ms  ({hall / base:.2f}× baseline)")
    print(f"hall ticket --help:        {status * 1000:7.1f} ms  ({status / base:.2f}× baseline)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
