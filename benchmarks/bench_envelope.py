"""What bounding a message before parsing it costs, beside plain ``json.loads`` in the same run.

For an ordinary request (``ticket.issue``), for a large HQ bundle (tens of MiB of bills and daily
usage), and for hostile messages the core must refuse (32 MiB nested 16 million deep, a million empty
lists, brackets that never close, millions of tiny strings): the time of the pre-scan alone
(``check_bounds``), of the whole ``envelope.parse``, and of ``json.loads`` on the same bytes where it
can finish at all (it cannot on the deep ones: it recurses until RecursionError).

    .venv/bin/python benchmarks/bench_envelope.py [--small 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable

from edge import envelope
from edge.errors import InvalidRequest


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """The best of ``repeat`` runs of ``fn``, in seconds (an error it raises is part of what is timed).

    The best, not the median: on a machine shared with other work the best run is the one least disturbed.
    """
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            fn()
        except (InvalidRequest, RecursionError, ValueError):
            pass
        times.append(time.perf_counter() - t0)
    return min(times)


def bundle(target_mib: float) -> bytes:
    rng = random.Random(1)
    usage = []
    raw = b""
    while len(raw) < target_mib * 1024 * 1024:
        for _ in range(2000):
            usage.append(
                {
                    "customer_hash": f"{rng.getrandbits(256):064x}",
                    "period": f"2026-{rng.randint(1, 12):02d}",
                    "kwh": round(rng.uniform(50, 900), 1),
                    "days": [round(rng.uniform(0, 40), 2) for _ in range(31)],
                }
            )
        raw = envelope.encode(envelope.make("bundle.apply", {"bundle": {"version": 7, "usage": usage}}, source="sync"))
    return raw


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", type=int, default=100_000, help="ordinary requests timed")
    a = p.parse_args()

    small = envelope.encode(envelope.make("ticket.issue", {"business": "A", "channel": "kiosk"}, source="kiosk"))
    t0 = time.perf_counter()
    for _ in range(a.small):
        json.loads(small)
    loads_us = (time.perf_counter() - t0) / a.small * 1e6
    t0 = time.perf_counter()
    for _ in range(a.small):
        envelope.check_bounds(small)
    scan_us = (time.perf_counter() - t0) / a.small * 1e6
    t0 = time.perf_counter()
    for _ in range(a.small):
        envelope.parse(small)
    parse_us = (time.perf_counter() - t0) / a.small * 1e6
    print(
        f"ticket.issue ({len(small)} B): json.loads {loads_us:.1f} µs, pre-scan {scan_us:.1f} µs, parse {parse_us:.1f} µs"
    )

    big = bundle(28)
    print(
        f"bundle ({len(big) / 2**20:.1f} MiB, {envelope.brackets_of(big).count(b'[')} arrays and objects):"
        f" json.loads {timed(lambda: json.loads(big)):.2f} s,"
        f" pre-scan {timed(lambda: envelope.check_bounds(big)):.2f} s, parse {timed(lambda: envelope.parse(big)):.2f} s"
    )
    half = 16 * 1024 * 1024
    hostile = {
        "16 million deep": b"[" * half + b"]" * half,
        "ten million empty lists": b"[" + b"[]," * (10 * 1024 * 1024 - 1) + b"[]]",
        "brackets that never pair up": b"[]" * (7 * 1024 * 1024) + b"]" + b"[" * (7 * 1024 * 1024),
        "seven million strings": b'["' + b'a","' * (7 * 1024 * 1024 - 1) + b'a"]',
    }
    for name, raw in hostile.items():
        refused = timed(lambda raw=raw: envelope.parse(raw), repeat=3)  # type: ignore[misc]
        try:
            envelope.parse(raw)
            outcome = "accepted"
        except InvalidRequest as exc:
            outcome = f"refused: {exc}"
        print(f"hostile, {name} ({len(raw) / 2**20:.0f} MiB): {refused:.2f} s, {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
