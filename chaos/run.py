"""Running the plan against the hall: every fault at its time, each episode on a thread of its own.

:class:`Injector` keeps what happened as figures (:class:`Record`): kills and the outage each caused,
link, disk and device episodes with their real times, malformed requests and what came back.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chaos.check import Episode
from chaos.clients import DeviceControl, TicketTakers
from chaos.garbage import BusGarbage, PanelGarbage, Tally
from chaos.hall import MANAGER, Hall
from chaos.history import ImportLog, run_import, write_csv
from chaos.plan import Fault, device_of

OUTAGE_LIMIT_S = 180.0  # a service not back within this is left as an outage of this length
DEVICE_OK_WAIT_S = 60.0  # longest wait for a device to recover from the last episode before the next


@dataclass
class Record:
    kills: Counter[str] = field(default_factory=Counter)
    outages: dict[str, list[float]] = field(default_factory=dict)
    link: Counter[str] = field(default_factory=Counter)
    link_s: float = 0.0
    disk_episodes: int = 0
    disk_s: float = 0.0
    disk_bytes: int = 0
    devices: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # faults that could not run here, by kind
    episodes: list[Episode] = field(default_factory=list)
    device_problems: list[str] = field(default_factory=list)
    bus: Tally = field(default_factory=Tally)
    panel: Tally = field(default_factory=Tally)


class Injector:
    def __init__(self, hall: Hall, plan: list[Fault], *, seconds: float, seed: int, log: Callable[[str], None]) -> None:
        self.hall = hall
        self.plan = plan
        self.seconds = seconds
        self.seed = seed
        self.log = log
        self.record = Record()
        self.takers = TicketTakers(hall.home, seed)
        self.control = DeviceControl(hall.home)
        self.imports = ImportLog()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    def now(self) -> float:
        return time.monotonic() - self._t0

    def say(self, what: str) -> None:
        self.log(f"+{self.now():6.1f} s {what}")

    def run(self) -> None:
        """Inject every fault at its time, then wait for the episodes to end."""
        self._t0 = time.monotonic()
        self.takers.start()
        for fault in self.plan:
            if self.stopping.wait(max(0.0, fault.at - self.now())):
                break
            self._spawn(fault)
        self.stopping.wait(max(0.0, self.seconds - self.now()))
        self.takers.finish()
        for t in self._threads:
            t.join(120)
        self.control.close()

    def _spawn(self, fault: Fault) -> None:
        handler = getattr(self, f"_{fault.kind}")
        t = threading.Thread(target=self._guarded, args=(handler, fault), name=f"fault-{fault.kind}", daemon=True)
        t.start()
        self._threads.append(t)

    def _guarded(self, handler: Callable[[Fault], None], fault: Fault) -> None:
        try:
            handler(fault)
        except Exception as exc:  # a fault that cannot be injected is logged; the run goes on
            self.say(f"{fault.kind} {fault.target}: could not be injected: {type(exc).__name__}: {exc}")
            with self._lock:
                self.record.skipped[f"{fault.kind} (error)"] += 1

    def _hold(self, fault: Fault) -> None:
        self.stopping.wait(max(0.0, fault.end - self.now()))

    # -- kill -9 -----------------------------------------------------------------------------
    def _kill(self, fault: Fault) -> None:
        child = self.hall.child(fault.target)
        proc = child.proc if child is not None else None
        if child is None or proc is None or proc.poll() is not None or child.given_up:
            self.say(f"kill {fault.target}: not running now; skipped")
            with self._lock:
                self.record.skipped["kill (not running)"] += 1
            return
        old = proc.pid
        os.kill(old, signal.SIGKILL)
        start = time.monotonic()
        self.say(f"kill -9 {fault.target} (pid {old})")
        with self._lock:
            self.record.kills[fault.target] += 1
        back = False
        while time.monotonic() - start < OUTAGE_LIMIT_S:
            if fault.target == "core":
                pid = self.hall.ping()
                back = pid is not None and pid != old
            else:
                cur = child.proc
                back = cur is not None and cur.pid != old and cur.poll() is None
                threading.Event().wait(0.1)
            if back or child.given_up:
                break
        outage = round(time.monotonic() - start, 2)
        with self._lock:
            self.record.outages.setdefault(fault.target, []).append(outage)
        self.say(f"{fault.target} back after {outage} s" if back else f"{fault.target} NOT back after {outage} s")

    # -- the HQ link ---------------------------------------------------------------------------
    def _link(self, fault: Fault) -> None:
        proxy = self.hall.proxy
        assert proxy is not None
        proxy.set(**fault.params)
        self.say(f"HQ link: {proxy.mode()} for {fault.duration:.1f} s")
        start = time.monotonic()
        self._hold(fault)
        proxy.set()
        with self._lock:
            self.record.link[fault.target] += 1
            self.record.link_s += time.monotonic() - start
        self.say("HQ link: clean")

    # -- a full disk ---------------------------------------------------------------------------
    def _disk(self, fault: Fault) -> None:
        disk = self.hall.disk
        if not disk.usable:
            with self._lock:
                self.record.skipped["disk full"] += 1
            return
        start = time.monotonic()
        written = disk.fill()
        self.say(f"disk full ({disk.method}): {written >> 20} MiB of ballast, {disk.free_bytes()} bytes left")
        self._hold(fault)
        disk.free()
        with self._lock:
            self.record.disk_episodes += 1
            self.record.disk_s += time.monotonic() - start
            self.record.disk_bytes += written
        self.say(f"disk freed: {disk.free_bytes() >> 20} MiB free")

    # -- devices -------------------------------------------------------------------------------
    def _device(self, fault: Fault) -> None:
        device = device_of(fault.target)
        # an episode on a device still reporting the last one's fault would prove nothing
        if not self.control.wait_ok(device, DEVICE_OK_WAIT_S):
            self.say(f"{fault.target}: {device} not reported ok again within {DEVICE_OK_WAIT_S:.0f} s; skipped")
            with self._lock:
                self.record.skipped["device (still in fault)"] += 1
            return
        if fault.target == "pcscd-stop":
            self._pcscd(fault)
            return
        on, off = {
            "idcard-unplug": ({"unplugged": True}, {"unplugged": False}),
            "printer-unplug": ({"unplugged": True}, {"unplugged": False}),
            "printer-paper": ({"paper_out": True}, {"paper_out": False}),
            "ir-wild": ({"wild_s": fault.params.get("wild_s", 5.0)}, None),
        }[fault.target]
        start = self.control.change(device, **on)
        if start is None:
            self._device_problem(f"{fault.target}: the devices service never answered device.simulate")
            return
        self.say(f"{fault.target}: {on}")
        self._hold(fault)
        end = self.control.change(device, **off) if off is not None else datetime.now(UTC)
        if end is None:
            self._device_problem(f"{fault.target}: the devices service never answered putting it back")
            return
        self.say(f"{fault.target}: back")
        with self._lock:
            self.record.devices[fault.target] += 1
            self.record.episodes.append(Episode(device, fault.target, start, end, expect_fault=off is not None))

    def _pcscd(self, fault: Fault) -> None:
        pcscd = self.hall.pcscd
        if not pcscd.owned:
            with self._lock:
                self.record.skipped["pcscd stopped"] += 1
            return
        start = datetime.now(UTC)
        pcscd.stop()
        self.say("pcscd stopped")
        self._hold(fault)
        if not pcscd.start():
            self._device_problem("pcscd-stop: pcscd did not list its reader again within 15 s of starting")
        end = datetime.now(UTC)
        self.say("pcscd started")
        with self._lock:
            self.record.devices[fault.target] += 1
            self.record.episodes.append(Episode("iccard", fault.target, start, end))

    def _device_problem(self, line: str) -> None:
        self.say(line)
        with self._lock:
            self.record.device_problems.append(line)

    # -- history imports (and the ops service re-planning after each) -----------------------------
    def _history(self, fault: Fault) -> None:
        n = int(fault.params["seed"])
        path = self.hall.layout.base / "imports" / f"history-{n}.csv"
        rows = write_csv(path, self.hall.today(), n, self.hall.zone)
        kill_after = fault.params.get("kill_after")
        imp = run_import(path, rows, self.hall.env, kill_after=kill_after)
        self.imports.add(imp)
        self.say(f"history import {path.name} ({rows} rows): {imp.outcome} {imp.message}".rstrip())
        if imp.outcome == "killed":  # as a person would: run it again on the same file
            again = run_import(path, rows, self.hall.env, kill_after=None)
            self.imports.add(again)
            self.say(f"history import {path.name} again: {again.outcome} {again.message}".rstrip())

    # -- malformed requests ----------------------------------------------------------------------
    def _garbage(self, fault: Fault) -> None:
        rng = random.Random(fault.params["seed"])
        count = int(fault.params["count"])
        tally: Tally
        if fault.target == "bus":
            tally = BusGarbage(self.hall.home.requests_endpoint).burst(rng, count)
        else:
            cafile = str(self.hall.home.root / "tls" / "panel.crt")
            tally = PanelGarbage(self.hall.panel_port, cafile, MANAGER, self.hall.password).burst(rng, count)
        self.say(f"{count} malformed requests to the {fault.target}: answers {dict(tally.answers)}")
        with self._lock:
            (self.record.bus if fault.target == "bus" else self.record.panel).add(tally)
