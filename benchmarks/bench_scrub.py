"""The privacy scrub per event, today's beside yesterday's in the same run, on the events a hall ships.

Yesterday's scrub (kept below, as it was) wrote each event's data as JSON, lowercased it and searched the
text with one large pattern, then walked events it flagged (every ticket with a customer). Today's walks
the data once without building anything, keys judged once per process, and walks again only an event
that may hold something to take out. The mix is bench_sync.py's backlog (tickets, evaluations, flow
counts, alerts) with a customer on a third of the tickets, plus one event in a hundred holding what
must not go up (a face, an embedding, a raw ID number); both scrubs must give the same events.

    .venv/bin/python benchmarks/bench_scrub.py [--events 200000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from collections.abc import Callable
from typing import Any

from bench_sync import event_for

from edge.identity import mask_number
from sync.privacy import BLOB, CUSTOMER_KEYS, DENY_KEY, ID18_IN_TEXT, LONG_DIGITS, is_resident_id, scrub

# -- yesterday's scrub, as it was ------------------------------------------------------------------------
SUSPECT = re.compile(DENY_KEY.pattern + r'|"customer"|\d{12,}|[a-z0-9+/=_-]{256,}|\[(?:[^\[\]"{},]*,){63}')


def scrub_before(event: dict[str, Any]) -> dict[str, Any]:
    if not SUSPECT.search(json.dumps(event.get("data", {}), ensure_ascii=False).lower()):
        return event
    removed: list[str] = []
    data = _clean_before(event.get("data", {}), "", removed)
    if removed:
        data["_scrubbed"] = removed
    return {**event, "data": data}


def _clean_before(value: Any, path: str, removed: list[str]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "customer" and isinstance(item, dict):
                extra = sorted(set(item) - CUSTOMER_KEYS)
                removed += [f"{where}.{k}" for k in extra]
                item = {k: v for k, v in item.items() if k in CUSTOMER_KEYS}
            elif DENY_KEY.search(str(key)) and key not in ("customer_hash", "masked", "name_masked"):
                removed.append(where)
                continue
            out[key] = _clean_before(item, where, removed)
        return out
    if isinstance(value, list):
        if len(value) >= 64 and all(isinstance(v, float) and -1.0 <= v <= 1.0 for v in value):
            removed.append(path)
            return []
        return [_clean_before(v, f"{path}[{i}]", removed) for i, v in enumerate(value)]
    if isinstance(value, str):
        if BLOB.match(value):
            removed.append(path)
            return ""
        if is_resident_id(value) or LONG_DIGITS.fullmatch(value):
            return mask_number(value)
        return ID18_IN_TEXT.sub(lambda m: mask_number(m.group(0)) if is_resident_id(m.group(0)) else m.group(0), value)
    return value


# -- the events --------------------------------------------------------------------------------------------


def events(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(1, n + 1):
        topic, data = event_for(i)
        if topic == "ticket.issued" and i % 3 == 0:
            digest = hashlib.sha256(str(i).encode()).hexdigest()
            data = {**data, "customer": {"kind": "id", "hash": digest, "masked": "1101**********1234",
                                         "name_masked": "张*"}}  # fmt: skip
        if i % 100 == 7:  # what must not go up
            data = {
                **data,
                "face_jpeg": "/9j/" + "A" * 300,
                "embedding": [0.01] * 128,
                "note": "证件 11010519491231002X",
            }
        out.append({"seq": i, "id": f"{i:032x}", "ts": "2026-03-02T08:00:00.000+00:00", "source": "core",
                    "topic": topic, "data": data})  # fmt: skip
    return out


def best_of(fn: Callable[[dict[str, Any]], dict[str, Any]], evs: list[dict[str, Any]], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for e in evs:
            fn(e)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    a = p.parse_args()
    evs = events(a.events)
    same = sum(1 for e in evs if scrub(e) == scrub_before(e))
    scrubbed = sum(1 for e in evs if "_scrubbed" in scrub(e)["data"])
    before, after = best_of(scrub_before, evs), best_of(scrub, evs)
    n = len(evs)
    print(f"{n} events, {scrubbed} with something taken out; the same result from both scrubs for {same}")
    print(f"{'scrub':<12}{'µs/event':>10}{'events/s':>12}")
    print(f"{'before':<12}{before / n * 1e6:>10.1f}{n / before:>12.0f}")
    print(f"{'after':<12}{after / n * 1e6:>10.1f}{n / after:>12.0f}")
    print(f"{before / after:.1f}x faster")
    return 0 if same == n else 1


if __name__ == "__main__":
    raise SystemExit(main())
