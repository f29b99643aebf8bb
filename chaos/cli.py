"""``hall chaos --minutes N [--seed S] [--json]``: the demo hall under random faults, then its invariants.

Exit status 0 when every invariant held, 1 when one broke, 2 for bad usage, 130 on Ctrl-C. The
faults are drawn from the seed (printed; ``--seed`` repeats a run's faults), logged with their
times in ``chaos.log`` of the run's directory, and the figures printed as a table (``--json``: as JSON).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chaos.check import Acked, Invariant
from chaos.hall import Hall, Layout
from chaos.plan import SERVICES, make_plan
from chaos.report import figures, invariants, table
from chaos.run import Injector
from chaos.stores import HallStore, HqStore
from chaos.verdict import become_subreaper, leftovers, settle, verdict


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="hall chaos",
        description="Run the demo hall in a home of its own, inject faults at random for N minutes "
        "(kill -9, HQ link faults, a full disk, devices unplugged, malformed requests, history imports), "
        "then check that nothing acknowledged was lost. Exit 0 only when every invariant held.",
    )
    length = p.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, default=10.0, help="how long to inject faults (default 10)")
    length.add_argument("--seconds", type=float, help="the same in seconds (short runs, tests)")
    p.add_argument("--seed", type=int, help="random seed of the faults (default: from the clock, printed)")
    p.add_argument("--json", action="store_true", help="print the figures and invariants as JSON")
    p.add_argument("--home", help="the run's directory (must be new or empty; default: a new /tmp/hall-chaos-*)")
    p.add_argument("--skip", default="", help="comma-separated services not to run (and so not to kill)")
    p.add_argument("--settle", type=float, default=180.0, help="longest wait for the hall to settle (s)")
    p.add_argument("--disk-mb", type=int, default=512, help="size of the hall's tmpfs when run as root (MiB)")
    p.add_argument(
        "--ballast-max-mb",
        type=int,
        default=1024,
        help="without root, fill the disk with a ballast file only when at most this much is free (MiB)",
    )
    a = p.parse_args(argv)
    a.length = a.seconds if a.seconds is not None else a.minutes * 60
    if a.length < 10:
        p.error("a run injects faults for at least 10 seconds")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(list(sys.argv[1:] if argv is None else argv))
    seed = a.seed if a.seed is not None else int(time.time()) % 1_000_000
    base = Path(a.home).absolute() if a.home else Path(tempfile.mkdtemp(prefix="hall-chaos-"))
    if base.exists() and any(base.iterdir()):
        print(f"hall chaos: {base} is not empty; a run needs a fresh directory of its own", file=sys.stderr)
        return 2
    skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    if "core" in skip:
        print("hall chaos: the core cannot be skipped: the invariants are about it", file=sys.stderr)
        return 2
    layout = Layout(base)
    base.mkdir(parents=True, exist_ok=True)
    logfile = open(layout.log, "a", buffering=1)  # noqa: SIM115 - closed at the end of main

    def log(line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        print(stamped, file=logfile)
        print(stamped, file=sys.stderr, flush=True)

    plan = make_plan(seed, a.length, services=tuple(s for s in SERVICES if s not in skip))
    hall = Hall(layout, seed=seed, skip=skip, disk_mb=a.disk_mb, ballast_max_mb=a.ballast_max_mb)
    stopping = threading.Event()
    become_subreaper()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    log(f"hall chaos: {a.length:g} s of faults, seed {seed}, run directory {base}; {len(plan)} faults planned")
    for fault in plan:
        print(f"planned {fault.describe()} {fault.params or ''}".rstrip(), file=logfile)
    checks: list[Invariant] = []
    fig: dict[str, Any] = {}
    try:
        hall.start(sys.stderr)
        log(f"full disk by: {hall.disk.method or 'none'} {hall.disk.reason}".rstrip())
        log(f"pcscd: {'our own daemon' if hall.pcscd.owned else 'skipped (IC-card reader off): ' + hall.pcscd.reason}")
        injector = Injector(hall, plan, seconds=a.length, seed=seed, log=log)
        injector.stopping = stopping
        injector.run()
        if stopping.is_set():
            log("interrupted: stopping the hall")
            return 130
        settled = settle(hall, injector, a.settle, log)
        with hall.bus(timeout=1.0) as bus:
            ticket = injector.takers.take(bus, "A", patience_s=30)
        final = Acked(str(ticket["id"]), str(ticket["number"])) if ticket else None
        log(f"the core issued {final.number} at the end" if final else "the core issued no ticket at the end")
        checks = verdict(hall, injector, settled, final)
        fig = _figures(hall, injector, settled.head, settled.waited_s, seed, a.length, base)
    finally:
        hall.stop()
        if checks:
            checks.append(leftovers())
        hall.unmount()
        logfile.close()
    fig["invariants"] = invariants(checks)
    fig["held"] = all(c.held for c in checks)
    layout.report.write_text(json.dumps(fig, ensure_ascii=False, indent=2) + "\n")
    print(json.dumps(fig, ensure_ascii=False, indent=2) if a.json else table(fig, checks))
    return 0 if fig["held"] else 1


def _figures(
    hall: Hall, injector: Injector, head: int, waited: float, seed: int, seconds: float, base: Path
) -> dict[str, Any]:
    store, hq = HallStore(hall.home.db_path), HqStore(hall.layout.hq_db, hall.hall_id)
    mine = {e.seq for e in store.events(head)}
    theirs = {s for s in hq.seqs() if s <= head}
    gaps = {(g.first, g.last): g for g in store.gaps() + hq.gaps()}
    shed = {s for g in gaps.values() for s in range(g.first, g.last + 1)}
    takers = injector.takers
    assert hall.proxy is not None
    return figures(
        injector.record,
        seed=seed,
        seconds=seconds,
        home=str(base),
        settle_s=waited,
        ran={
            "disk": hall.disk.method + (f" ({hall.disk.reason})" if hall.disk.reason else ""),
            "pcscd": "our own daemon" if hall.pcscd.owned else f"skipped: {hall.pcscd.reason}",
        },
        proxy={k: v for k, v in hall.proxy.stats.items() if v},
        events={
            "hall_head": head,
            "at_hq": len(theirs),
            "shed": len(shed - theirs),
            "reclaimed": len(theirs - mine - shed),
        },
        history=_imports(injector),
        tickets={
            "acknowledged": len(takers.acked),
            "longest_answer_s": round(max((lat for _, lat in takers.answered), default=0.0), 2),
            "outcomes": dict(takers.outcomes),
            "in_hall": len(store.tickets()),
        },
    )


def _imports(injector: Injector) -> dict[str, Any]:
    """History imports by outcome, and the tickets answered while one ran (the queue must not wait on them)."""
    imports = injector.imports.imports
    windows = [(i.started, i.ended) for i in imports]
    during = [lat for t, lat in injector.takers.answered if any(a <= t <= b for a, b in windows)]
    return {
        "imports": dict(Counter(i.outcome for i in imports)),
        "rows_added": sum(i.added for i in imports if i.outcome == "done"),
        "seconds": round(sum(b - a for a, b in windows), 1),
        "tickets_meanwhile": len(during),
        "longest_ticket_meanwhile_s": round(max(during, default=0.0), 2),
    }
