"""``hall run`` and ``hall demo``: every installed service as a child process.

The core starts first; the others follow once it answers. A child that exits
is restarted after a backoff, at most ``MAX_RESTARTS`` times a minute, after
which it is left down and reported (the rest of the hall keeps running).
Ctrl-C or SIGTERM stops every child, politely first.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from edge.paths import Home

MAX_RESTARTS = 5
WINDOW_S = 60.0
DEMO_HOME = Path.home() / ".local" / "share" / "smart-hall-demo"
DEMO_PAD_COUNTER = "2"


def say(msg: str, out: IO[str] | None = None) -> None:
    print(f"{time.strftime('%H:%M:%S')} hall: {msg}", file=out or sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    starts: deque[float] = field(default_factory=deque)
    next_start: float = 0.0
    given_up: bool = False

    def start(self, env: dict[str, str], out: IO[str] | None = None) -> None:
        """Start the child; its output goes to ``out`` (both streams) when given, else to ours."""
        self.proc = subprocess.Popen(
            self.argv, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT if out else None
        )
        self.starts.append(time.monotonic())
        say(f"started {self.name} (pid {self.proc.pid})", out)


class Supervisor:
    def __init__(
        self,
        names: list[str],
        env: dict[str, str],
        extra: dict[str, list[str]] | None = None,
        *,
        max_restarts: int = MAX_RESTARTS,
        base_delay: float = 0.5,
        output: IO[str] | None = None,
    ) -> None:
        self.env = env
        self.output = output
        self.max_restarts = max_restarts
        self.base_delay = base_delay
        self.children = [Child(n, [sys.executable, "-m", "edge", n]) for n in names]
        for name, argv in (extra or {}).items():
            self.children.append(Child(name, argv))
        self.stopping = threading.Event()

    def run(self, duration: float | None = None) -> int:
        deadline = time.monotonic() + duration if duration else None
        first, rest = self.children[0], self.children[1:]
        first.start(self.env, self.output)
        if first.name == "core":
            self._await_core(first)
        for child in rest:
            child.start(self.env, self.output)
        while not self.stopping.is_set():
            if deadline and time.monotonic() >= deadline:
                break
            self._watch()
            self.stopping.wait(0.2)
        self.stop_all()
        return 0

    def _await_core(self, core: Child) -> None:
        """Wait (up to 20 s) until the core answers, so clients find it; stop waiting if it dies."""
        from edge.bus import BusClient
        from edge.errors import BusError

        with BusClient("supervisor", timeout=0.5, retries=0) as bus:
            for _ in range(40):
                try:
                    bus.request("hall.ping")
                    return
                except BusError:
                    if self.stopping.is_set() or (core.proc is not None and core.proc.poll() is not None):
                        return
        say("core does not answer yet; starting the others anyway", self.output)

    def _watch(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.given_up or child.proc is None:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            if code == 2:  # its config or HALL_HOME is wrong: restarting cannot help
                child.given_up = True
                say(f"{child.name} cannot start (status 2: fix its config or HALL_HOME); left down", self.output)
                continue
            if child.next_start == 0.0:
                while child.starts and now - child.starts[0] > WINDOW_S:
                    child.starts.popleft()
                if len(child.starts) >= self.max_restarts:
                    child.given_up = True
                    say(
                        f"{child.name} exited {self.max_restarts} times within {WINDOW_S:.0f} s; left down", self.output
                    )
                    continue
                delay = min(10.0, self.base_delay * 2 ** (len(child.starts) - 1))
                child.next_start = now + delay
                say(f"{child.name} exited with status {code}; restarting in {delay:.1f} s", self.output)
            elif now >= child.next_start:
                child.next_start = 0.0
                child.start(self.env, self.output)

    def stop_all(self) -> None:
        self.stopping.set()
        live = [c for c in reversed(self.children) if c.proc is not None and c.proc.poll() is None]
        for child in live:
            assert child.proc is not None
            child.proc.terminate()
        deadline = time.monotonic() + 8.0
        for child in live:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop; killing it", self.output)
                child.proc.kill()
                child.proc.wait()
        say("stopped", self.output)


def service_names(only: str | None, skip: str | None) -> list[str]:
    from edge.cli.main import services

    names = sorted(services(), key=lambda n: (n != "core", n))
    if only:
        wanted = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise SystemExit(f"hall run: no installed service {unknown[0]!r} (installed: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    if skip:
        names = [n for n in names if n not in {s.strip() for s in skip.split(",")}]
    return names


def _install_signals(sup: Supervisor) -> None:
    def stop(signum: int, frame: object) -> None:
        sup.stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def run_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hall run", description="Start every installed service; restart crashed ones.")
    p.add_argument("--only", help="comma-separated services to start (default: all installed)")
    p.add_argument("--skip", help="comma-separated services not to start")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    a = p.parse_args(argv)
    Home.from_env().ensure()
    sup = Supervisor(service_names(a.only, a.skip), dict(os.environ))
    _install_signals(sup)
    return sup.run(a.duration)


def demo_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hall demo", description="Run the demo hall: every service, simulated customers.")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--speed", type=float, default=20.0, help="simulated minutes per real minute")
    p.add_argument("--skip", help="comma-separated services not to start (also simulate, pad)")
    p.add_argument("--quiet", action="store_true", help="do not print the hall's events")
    a = p.parse_args(argv)
    env = dict(os.environ)
    env.setdefault("HALL_HOME", str(DEMO_HOME))
    env["HALL_DEMO"] = "1"
    os.environ.update({"HALL_HOME": env["HALL_HOME"], "HALL_DEMO": "1"})
    Home.from_env().ensure()
    say(f"demo hall in {env['HALL_HOME']} (set HALL_HOME to use another directory); Ctrl-C stops it")
    extra = {
        "simulate": [sys.executable, "-m", "edge", "simulate", "--speed", str(a.speed)],
        # the customer-facing pad of counter 2 (变更用电 is served there): forms pushed from the panel reach it
        "pad": [sys.executable, "-m", "edge", "pad", "--counter", DEMO_PAD_COUNTER, "--windowed"],
    }
    skipped = {n.strip() for n in (a.skip or "").split(",")}
    extra = {name: argv for name, argv in extra.items() if name not in skipped}
    sup = Supervisor(service_names(None, a.skip), env, extra)
    _install_signals(sup)
    if not a.quiet:
        threading.Thread(target=_print_events, args=(sup.stopping,), daemon=True).start()
    return sup.run(a.duration)


def _print_events(stop: threading.Event) -> None:
    from edge.bus import Subscriber

    with Subscriber([""]) as sub:
        while not stop.is_set():
            env = sub.recv(timeout=0.5)
            line = describe(env) if env is not None else None
            if line:
                print(line, flush=True)


def describe(env: dict[str, object]) -> str | None:
    """One line a person can read for an event, or None for events not worth a line."""
    data = env.get("data")
    d: dict[str, Any] = data if isinstance(data, dict) else {}
    topic = str(env.get("topic"))
    stamp = time.strftime("%H:%M:%S")
    line = _LINES.get(topic)
    if line is None:
        return None if topic in _QUIET else f"{stamp}  {topic} {json.dumps(d, ensure_ascii=False)[:90]}"
    try:
        return f"{stamp}  {line(d)}"
    except (KeyError, TypeError, ValueError):
        return f"{stamp}  {topic} {json.dumps(d, ensure_ascii=False)[:90]}"


_QUIET = {
    "ticket.serving",
    "sync.status",
    "heatmap.minute",
    "voice.announced",
    "seat.presence",
    "zone.dwell",
    "zone.occupancy",
    "queue.length",
    "probe.sent",
}
_LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "ticket.issued": lambda d: (
        f"取号 {d['number']} {d['business_name']}  前面 {d['people_ahead']} 人, "
        + (f"约 {d['wait_minutes']} 分钟" if d.get("wait_minutes") is not None else "暂无窗口开放")
    ),
    "ticket.called": lambda d: (
        f"叫号 请 {d['number']} 号到 {d.get('counter_name', d.get('counter'))}  [{d.get('rule', '')}]"
    ),
    "ticket.recalled": lambda d: f"重呼 请 {d['number']} 号到 {d.get('counter_name', d.get('counter'))}",
    "ticket.finished": lambda d: f"办结 {d['number']} 窗口 {d['counter']} ({d.get('handling_s', 0)} s)",
    "ticket.no_show": lambda d: f"过号 {d['number']} 窗口 {d['counter']}",
    "ticket.transferred": lambda d: f"转办 {d['number']} → {d['business_name']}",
    "evaluation.recorded": lambda d: f"评价 {d['number']}: {'★' * int(d['score'])}",
    "counter.opened": lambda d: f"开窗 {d['name']} {d.get('staff') or ''}",
    "counter.closed": lambda d: f"关窗 {d['name']}",
    "counter.paused": lambda d: f"暂停 {d['name']} ({d.get('pause_reason')})",
    "door.crossed": lambda d: f"客流 {'进' if d['direction'] == 'in' else '出'}  [{d.get('source', '')}]",
    "printer.printed": lambda d: f"打印 {d['number']} 号票",
    "printer.failed": lambda d: f"打印失败 {d['number']}: {d.get('reason')}",
    "device.health": lambda d: f"设备 {d['device']}: {d['state']} {d.get('detail', '')}".rstrip(),
    "alert.raised": lambda d: f"告警 {d.get('message', d.get('rule'))}",
    "alert.cleared": lambda d: f"告警解除 {d.get('rule')}",
    "bundle.applied": lambda d: f"HQ 数据包 v{d['version']} 已生效",
    "card.id.read": lambda d: f"刷身份证 {d.get('name_masked', '')} {d['customer']['masked']}",
    "card.ic.read": lambda d: f"读购电卡 {d['customer']['masked']}",
    "vip.arrived": lambda d: f"贵宾到店 {d.get('who', '')}",
    "staff.requested": lambda d: f"呼叫工作人员 ({d.get('kiosk', '')})",
}
