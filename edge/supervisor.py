"""``hall run`` and ``hall demo``: every installed service as a child process.

The core starts first; the others follow once it answers. A child that exits
is restarted after a backoff, at most ``MAX_RESTARTS`` times a minute, after
which it is left down and reported (the rest of the hall keeps running).
A child that said it was ready (sd_notify ``READY=1``) and then stops sending
its watchdog pings for ``--watchdog`` seconds is aborted and restarted like a
crashed one (:mod:`edge.children`). Each child's output is kept in
``$HALL_HOME/log/NAME.log``; ``$HALL_HOME/run/supervisor.sock`` answers what
runs and restarts a service on request (:mod:`edge.control`, used by the
technicians' console). Ctrl-C or SIGTERM stops every child, politely first.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from edge.children import Child, say
from edge.paths import Home

MAX_RESTARTS = 5
WINDOW_S = 60.0
WATCHDOG_S = 30.0
SETTLE_S = 3.0  # a restarted child that does not speak sd_notify counts as up once it stayed this long
DEMO_HOME = Path.home() / ".local" / "share" / "smart-hall-demo"
DEMO_PAD_COUNTER = "2"
PAD_COUNTER_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")  # as a unit instance name (services.NAME_RE)

__all__ = ["Child", "Supervisor", "describe", "say"]


class Supervisor:
    def __init__(
        self,
        names: list[str],
        env: dict[str, str],
        extra: dict[str, list[str]] | None = None,
        *,
        max_restarts: int = MAX_RESTARTS,
        base_delay: float = 0.5,
        home: Path | None = None,
        watchdog_s: float | None = None,
        output: IO[str] | None = None,
    ) -> None:
        """``home``: keep logs in ``home/log``, give children notification sockets and serve the control socket."""
        self.env = env
        self.output = output  # with no home: children's output and our lines go here (else to our stderr)
        self.max_restarts = max_restarts
        self.base_delay = base_delay
        self.home = home
        logs = home / "log" if home else None
        notify = home / "run" / "notify" if home else None

        def child(name: str, argv: list[str]) -> Child:
            return Child(name, argv, log_dir=logs, notify_dir=notify, watchdog_s=watchdog_s or None, output=output)

        self.children = [child(n, [sys.executable, "-m", "edge", n]) for n in names]
        for name, argv in (extra or {}).items():
            self.children.append(child(name, argv))
        self.stopping = threading.Event()
        self.lock = threading.RLock()
        self.control: Any = None

    def run(self, duration: float | None = None) -> int:
        deadline = time.monotonic() + duration if duration else None
        self._serve_control()
        first, rest = self.children[0], self.children[1:]
        first.start(self.env)
        if first.name == "core":
            self._await_core(first)
        for child in rest:
            child.start(self.env)
        while not self.stopping.is_set():
            if deadline and time.monotonic() >= deadline:
                break
            self._watch()
            self.stopping.wait(0.2)
        self.stop_all()
        return 0

    def _serve_control(self) -> None:
        if self.home is None:
            return
        from edge.control import ControlServer, socket_path

        try:
            self.control = ControlServer(socket_path(self.home / "run"), self.command)
        except OSError as exc:
            say(f"no control socket ({exc}); the console cannot restart services", self.output)
            return
        self.control.start()

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
        with self.lock:
            now = time.monotonic()
            for child in self.children:
                child.read_notifications(now)
                if child.given_up or child.proc is None or child.held:
                    continue
                code = child.proc.poll()
                if code is None:
                    child.check_watchdog(now)
                    continue
                if code == 2:  # its config or HALL_HOME is wrong: restarting cannot help
                    child.given_up = True
                    child.last_exit = code
                    say(f"{child.name} cannot start (status 2: fix its config or HALL_HOME); left down", self.output)
                    continue
                if child.next_start == 0.0:
                    child.last_exit = code
                    while child.starts and now - child.starts[0] > WINDOW_S:
                        child.starts.popleft()
                    if len(child.starts) >= self.max_restarts:
                        child.given_up = True
                        say(
                            f"{child.name} exited {self.max_restarts} times within {WINDOW_S:.0f} s; left down",
                            self.output,
                        )
                        continue
                    delay = min(10.0, self.base_delay * 2 ** (len(child.starts) - 1))
                    child.next_start = now + delay
                    say(f"{child.name} exited with status {code}; restarting in {delay:.1f} s", self.output)
                elif now >= child.next_start:
                    child.next_start = 0.0
                    child.start(self.env)

    # -- on request (the control socket) ----------------------------------------
    def command(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd = request.get("cmd")
        if cmd == "services":
            with self.lock:
                return {"ok": True, "services": [c.describe() for c in self.children]}
        if cmd == "restart":
            timeout = request.get("timeout", 30.0)
            if not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
                return {"ok": False, "error": "timeout must be a number of seconds, at most 600"}
            return self.restart(str(request.get("service")), float(timeout))
        return {"ok": False, "error": f"unknown command {cmd!r} (services, restart)"}

    def restart(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        """Stop one child and start it again; wait until it is ready (or stayed up ``SETTLE_S``)."""
        child = next((c for c in self.children if c.name == name), None)
        if child is None:
            names = ", ".join(c.name for c in self.children)
            return {"ok": False, "error": f"no service {name!r} runs here (running: {names})"}
        with self.lock:
            if child.held:
                return {"ok": False, "busy": True, "error": f"{name} is being restarted already"}
            child.held = True
        try:
            say(f"restarting {name} on request", self.output)
            _stop(child)
            with self.lock:
                child.given_up = False
                child.next_start = 0.0
                child.starts.clear()
                child.start(self.env)
            return self._await_up(child, timeout)
        finally:
            child.held = False

    def _await_up(self, child: Child, timeout: float) -> dict[str, Any]:
        assert child.proc is not None
        deadline = time.monotonic() + timeout
        settle = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline and not self.stopping.is_set():
            with self.lock:
                child.read_notifications(time.monotonic())
            code = child.proc.poll()
            if code is not None:
                child.last_exit = code
                return {"ok": False, "error": f"{child.name} exited with status {code} after the restart"}
            if child.ready or (not child.speaks_notify and time.monotonic() >= settle):
                return {"ok": True, "pid": child.proc.pid, "ready": child.ready}
            time.sleep(0.05)
        return {"ok": False, "error": f"{child.name} did not say it was ready within {timeout:g} s"}

    def stop_all(self) -> None:
        self.stopping.set()
        if self.control is not None:
            self.control.close()
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
        for child in self.children:
            child.close()
        say("stopped", self.output)


def _stop(child: Child, wait_s: float = 8.0) -> None:
    """Terminate a child (SIGTERM, then SIGKILL after ``wait_s``) and reap it."""
    if child.proc is None or child.proc.poll() is not None:
        return
    child.proc.terminate()
    try:
        child.proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        say(f"{child.name} did not stop; killing it")
        child.proc.kill()
        child.proc.wait()


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


def pad_units(counters: str, *, windowed: bool = False) -> dict[str, list[str]]:
    """The counter pads to supervise, named as their systemd units are (``pad@2`` for ``hall-pad@2``).

    >>> list(pad_units("2, 3"))
    ['pad@2', 'pad@3']
    """
    units: dict[str, list[str]] = {}
    for counter in (c.strip() for c in counters.split(",")):
        if not counter:
            continue
        if not PAD_COUNTER_RE.match(counter):
            raise ValueError(f"{counter!r} is not a counter id (letters, digits, - and _, at most 32)")
        units[f"pad@{counter}"] = [sys.executable, "-m", "edge", "pad", "--counter", counter] + (
            ["--windowed"] if windowed else []
        )
    return units


def _home() -> Path:
    return Home.from_env().ensure().root


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
    p.add_argument(
        "--watchdog",
        type=float,
        default=WATCHDOG_S,
        help=f"seconds a ready service may go without a watchdog ping before it is restarted (0: off; default {WATCHDOG_S:g})",
    )
    p.add_argument(
        "--pads",
        metavar="COUNTERS",
        help="comma-separated counters whose pads run here too, each as the unit pad@COUNTER (as hall-pad@COUNTER)",
    )
    a = p.parse_args(argv)
    try:
        pads = pad_units(a.pads or "")
    except ValueError as exc:
        raise SystemExit(f"hall run: {exc}") from None
    sup = Supervisor(service_names(a.only, a.skip), dict(os.environ), pads, home=_home(), watchdog_s=a.watchdog)
    _install_signals(sup)
    return sup.run(a.duration)


def demo_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="hall demo", description="Run the demo hall: every service, simulated customers.")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument("--speed", type=float, default=20.0, help="simulated minutes per real minute")
    p.add_argument("--skip", help="comma-separated services not to start")
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
        "console": [sys.executable, "-m", "edge", "console", "--pty"],  # it says which pty to connect to
        # the customer-facing pad of counter 2 (变更用电 is served there): forms pushed from the panel reach it
        **pad_units(DEMO_PAD_COUNTER, windowed=True),
    }
    skipped = {n.strip() for n in (a.skip or "").split(",")}
    extra = {name: argv for name, argv in extra.items() if name not in skipped and name.split("@")[0] not in skipped}
    sup = Supervisor(service_names(None, a.skip), env, extra, home=_home(), watchdog_s=WATCHDOG_S)
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
