"""After the faults: let the hall settle (bounded), then check every invariant.

Settling waits until every service runs, the core answers, HQ holds every event of the hall's log
up to its head when injection stopped, and every device the run unplugged reports ok, or until the
deadline, whichever comes first; the checks then say what is still wrong.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos.check import (
    OK_STATES,
    Acked,
    Invariant,
    check_all_clear,
    check_devices,
    check_events,
    check_tickets,
    left_in_fault,
)
from chaos.hall import Hall
from chaos.history import check_counted, check_imports, check_planned
from chaos.run import Injector
from chaos.stores import HallStore, HqStore, history
from edge.errors import BusError


@dataclass
class Settled:
    head: int
    waited_s: float
    pending: list[str]  # what had not settled by the deadline


def settle(hall: Hall, injector: Injector, timeout_s: float, log: Callable[[str], None]) -> Settled:
    """Put everything back, then wait for the hall to catch up (at most ``timeout_s``)."""
    if hall.proxy is not None:
        hall.proxy.set()
    hall.disk.free()
    if hall.pcscd.owned and hall.pcscd.proc is None:
        hall.pcscd.start()
    start = time.monotonic()
    hall.wait_core(timeout_s)
    store = HallStore(hall.home.db_path)
    head = store.head()
    log(f"settling: the hall's log is at seq {head}; waiting up to {timeout_s:.0f} s for HQ and the devices")
    devices = {e.device for e in injector.record.episodes}
    hq = HqStore(hall.layout.hq_db, hall.hall_id)
    pending: list[str] = []
    while True:
        pending = []
        down = [c.name for c in hall.children() if c.given_up or c.proc is None or c.proc.poll() is not None]
        if down:
            pending.append(f"services not running: {', '.join(down)}")
        if hall.ping() is None:
            pending.append("the core does not answer")
        missing = {e.seq for e in store.events(head)} - hq.seqs()
        if missing:
            pending.append(f"{len(missing)} events not yet at HQ (first: seq {min(missing)})")
        seen = history(store, hq)
        last = {h.device: h.state for h in seen}
        faulty = sorted(d for d in devices if last.get(d) not in OK_STATES)
        faulty += sorted(d for d in left_in_fault(seen) if d not in faulty)
        if faulty:
            pending.append(f"devices not ok: {', '.join(f'{d} ({last.get(d)})' for d in faulty)}")
        if not _planned(hall, store).held:
            pending.append("the ops service has not saved today's plan since the last import")
        waited = time.monotonic() - start
        if not pending or waited >= timeout_s:
            break
        time.sleep(1.0)
    log(f"settled after {waited:.1f} s" if not pending else f"not settled after {waited:.1f} s: {'; '.join(pending)}")
    return Settled(head, round(waited, 1), pending)


def verdict(hall: Hall, injector: Injector, settled: Settled, final: Acked | None) -> list[Invariant]:
    """The invariants, checked against the stores as they are now."""
    store = HallStore(hall.home.db_path)
    hq = HqStore(hall.layout.hq_db, hall.hall_id)
    acked = list(injector.takers.acked) + ([final] if final else [])
    record = injector.record
    down = [
        f"{c.name} is {'left down by the supervisor' if c.given_up else 'not running'}"
        for c in hall.children()
        if c.given_up or c.proc is None or c.proc.poll() is not None
    ]
    devices = check_devices(record.episodes, history(store, hq))
    devices = Invariant.of(devices.name, record.device_problems + devices.problems)
    return [
        check_tickets(acked, store.tickets()),
        check_events(
            store.events(settled.head),
            hq.events(),
            head=settled.head,
            reclaimed=store.reclaimed(),
            gaps=store.gaps() + hq.gaps(),
        ),
        Invariant.of("the core serving: a ticket issued at the end", [] if final else ["no ticket within 30 s"]),
        devices,
        check_all_clear(history(store, hq)),
        Invariant.of("every service running at the end", down),
        Invariant.of("malformed requests refused (no 500, nothing accepted)", record.bus.wrong + record.panel.wrong),
        *_history(hall, injector, store),
    ]


def _planned(hall: Hall, store: HallStore) -> Invariant:
    if hall.child("ops") is None:  # skipped: nothing plans
        return check_planned(None, None)
    return check_planned(store.last_import_done(), store.plan_saved("day", hall.today().isoformat()))


def _history(hall: Hall, injector: Injector, store: HallStore) -> list[Invariant]:
    held = store.imports()
    with hall.bus(timeout=5.0, retries=2) as bus:
        try:
            counted = check_counted(int(bus.request("history.summary")["imported"]["visits"]), held)
        except BusError as exc:
            counted = Invariant.of("rows of unfinished imports count as nothing", [f"history.summary: {exc}"])
    return [check_imports(injector.imports.imports, held), counted, _planned(hall, store)]


def become_subreaper() -> bool:
    """Make this process the one orphans of the hall's services are handed to (``PR_SET_CHILD_SUBREAPER``).

    A worker left running by a service killed with ``kill -9`` then stays this run's descendant, where
    :func:`leftovers` finds it (its ``/proc`` environment cannot be trusted: process titles overwrite it).
    """
    import ctypes

    try:
        return int(ctypes.CDLL("libc.so.6", use_errno=True).prctl(36, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def leftovers(grace_s: float = 10.0) -> Invariant:
    """Descendants of this run still alive ``grace_s`` after every service was stopped; killed."""
    deadline = time.monotonic() + grace_s
    while _descendants() and time.monotonic() < deadline:
        time.sleep(0.5)
    found = _descendants()
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    _descendants()  # reaps them
    return Invariant.of("no process of the hall left behind", [f"pid {p} still running: {c}" for p, c in found.items()])


def _descendants() -> dict[int, str]:
    """Living descendants of this process, by pid, with their command lines; zombies handed to us are reaped."""
    me = os.getpid()
    procs: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        procs[int(stat.parent.name)] = (int(rest[1]), rest[0])
    found: dict[int, str] = {}
    frontier = [me]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, state) in procs.items():
            if ppid != parent or pid in found:
                continue
            if state == "Z":
                if parent == me:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
                continue
            try:
                cmd = (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found[pid] = cmd.strip()[:120]
            frontier.append(pid)
    return found
