"""What the hall is doing: ``status``, ``devices``, ``sync``, ``network`` and ``time``."""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from edge.console.shell import Command, Context, UsageError
from edge.console.terminal import ConsoleError
from edge.errors import HallError

TEST_REQUESTED = "device.test_requested"
TESTED = "device.tested"
RETRY_REQUESTED = "sync.retry_requested"


# -- status -------------------------------------------------------------------------
def status(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("usage")
    try:
        st = ctx.request("queue.status", timeout=3.0)
    except ConsoleError as exc:
        ctx.out(f"core     DOWN: {exc}")
        st = None
    if st is not None:
        ping = ctx.request("hall.ping", timeout=3.0)
        ctx.out(
            f"hall     {st['hall']['id']} {st['hall']['name']} · day {st['day']} {st['local_time']} · "
            f"version {ping['version']} · log seq {ping['seq']}"
        )
        waits = [
            f"{b['code']} {b['waiting']} (longest {b['longest_wait_s'] // 60} min)"
            if b["waiting"]
            else f"{b['code']} 0"
            for b in st["businesses"]
        ]
        ctx.out(f"queues   {' · '.join(waits)}")
        open_ = [c for c in st["counters"] if c["state"] != "closed"]
        ctx.out(f"counters {len(open_)} of {len(st['counters'])} open")
        for c in open_:
            current = c["current"]["number"] if c.get("current") else "-"
            ctx.out(f"  {c['id']:<4} {c['name']:<10} {c['state']:<8} {current:<6} {c.get('staff') or ''}")
    _services_line(ctx)
    if st is not None:
        facts = ctx.request("hall.facts", timeout=3.0)
        bad = [d for d in facts["devices"] if d["data"].get("state") not in ("ok", "online")]
        ctx.out(
            f"devices  {len(facts['devices'])} reporting, {len(bad)} not ok"
            + "".join(f"\n  {d['key']}: {d['data'].get('state')} {d['data'].get('detail', '')}" for d in bad)
        )
        ctx.out(f"plan     {_plan(ctx, st['day'])}")
        sync = ctx.request("sync.status", timeout=3.0)
        ctx.out(f"HQ       {_link(sync)}")
        alerts = ctx.request("alert.list", {"state": "active", "limit": 20}, timeout=3.0)
        ctx.out(
            f"alerts   {len(alerts)} active" + "".join(f"\n  {a.get('message', a.get('rule'))}" for a in alerts[:5])
        )


def _services_line(ctx: Context) -> None:
    try:
        manager = ctx.manager()
        listed = manager.services()
    except HallError as exc:
        ctx.out(f"services {exc}")
        return
    parts = [f"{s['name']} {s['state']}" for s in listed]
    ctx.out(f"services ({manager.kind}) {', '.join(parts) or 'none'}")


def _plan(ctx: Context, day: str) -> str:
    """Today's staffing plan as the ops service saved it (the ahead-of-plan alert reads it)."""
    plan = ctx.request("plan.get", {"kind": "day", "key": day}, timeout=3.0)
    if plan is None:
        return "no staffing plan for today (made by `ops`, from a week of history or more; see `logs ops`)"
    rows = plan["data"].get("rows") or []
    peak = max((r.get("counters", 0) for r in rows), default=0)
    from edge.console.services import uptime

    try:
        ago = uptime(datetime.fromisoformat(str(plan.get("saved_at"))).timestamp()) + " ago"
    except ValueError:
        ago = "at an unknown time"
    return f"today's staffing plan saved {ago}: {len(rows)} slots, up to {peak} counters open"


def _link(sync: dict[str, Any]) -> str:
    link = sync.get("link")
    if link is None:
        return f"not linked yet · backlog {sync['backlog']} events"
    state = "online" if link.get("ok") else "OFFLINE"
    error = f" · last error: {link['error']}" if link.get("error") else ""
    return f"{state} {link.get('url', '')} · backlog {sync['backlog']} · last ack {sync['last_ack'] or 'never'}{error}"


# -- devices ------------------------------------------------------------------------
def devices(ctx: Context, args: list[str]) -> None:
    if args[:1] == ["test"]:
        if len(args) != 2:
            raise UsageError("usage")
        device_test(ctx, args[1])
        return
    if args:
        raise UsageError("usage")
    facts = ctx.request("hall.facts", timeout=3.0)
    configured = _configured(ctx)
    seen = {f["key"]: f for f in facts["devices"]}
    names = [d["device"] for d in configured] + [k for k in seen if k not in {d["device"] for d in configured}]
    ctx.out(f"{'device':<16} {'state':<9} {'since':<20} detail")
    for name in names:
        fact = seen.get(name)
        if fact is None:
            ctx.out(f"{name:<16} {'unknown':<9} {'-':<20} no health reported (is `devices` running?)")
            continue
        data = fact["data"]
        at = str(fact["at"])[:19].replace("T", " ")
        ctx.out(f"{name:<16} {data.get('state', '?'):<9} {at:<20} {data.get('detail', '')}")
        counters = data.get("counters") or {}
        if counters:
            text = " ".join(f"{k}={v}" for k, v in counters.items())
            ctx.out(
                textwrap.fill(text, max(40, ctx.term.columns - 1), initial_indent=" " * 17, subsequent_indent=" " * 17)
            )


def _configured(ctx: Context) -> list[dict[str, Any]]:
    """The devices the config lists (``hall devices list``; its service owns their config)."""
    argv = [sys.executable, "-m", "edge"]
    if ctx.config_path.exists():
        argv += ["--config", str(ctx.config_path)]
    try:
        res = subprocess.run(
            [*argv, "devices", "list", "--json"], capture_output=True, text=True, timeout=30, check=False
        )
        listed: list[dict[str, Any]] = json.loads(res.stdout) if res.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return listed


def device_test(ctx: Context, name: str) -> None:
    """Through the running devices service (it owns the ports), else by opening the device directly."""
    ctx.audit_detail["device"] = name
    running = False
    try:
        running = any(s["name"] == "devices" and s["state"] == "running" for s in ctx.manager().services())
    except HallError:
        pass
    timeout = ctx.settings.test_timeout_s
    if running:
        from edge.bus import Subscriber

        request = secrets.token_hex(6)
        with Subscriber([TESTED]) as sub:
            time.sleep(0.3)  # the subscription joins before the question goes out
            ctx.request(
                "event.publish",
                {"topic": TEST_REQUESTED, "data": {"request": request, "device": name}, "durable": False},
            )
            ctx.out(f"testing {name} through the devices service (up to {timeout:g} s)…")
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                env = sub.recv(timeout=0.5)
                if env is not None and env["data"].get("request") == request:
                    result = env["data"]
                    break
            else:
                raise ConsoleError(f"the devices service did not answer the test of {name} within {timeout:g} s")
    else:
        ctx.out(f"testing {name} directly (the devices service is not running; up to {timeout:g} s)…")
        argv = [sys.executable, "-m", "edge"]
        if ctx.config_path.exists():
            argv += ["--config", str(ctx.config_path)]
        argv += ["devices", "test", name, "--json", "--timeout", str(timeout)]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ConsoleError(f"the test of {name} did not finish") from exc
        if res.returncode == 2 or not res.stdout.strip():
            raise ConsoleError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"{name}: test failed")
        detail = json.loads(res.stdout)
        result = {"ok": res.returncode == 0, "detail": ", ".join(f"{k}: {v}" for k, v in detail.items())}
    ctx.audit_detail["passed"] = bool(result.get("ok"))
    ctx.out(f"{name}: {'PASS' if result.get('ok') else 'FAIL'} · {result.get('detail', '')}")


# -- sync ---------------------------------------------------------------------------
def sync(ctx: Context, args: list[str]) -> None:
    if args == ["retry"]:
        ctx.request("event.publish", {"topic": RETRY_REQUESTED, "data": {}, "durable": False})
        ctx.out("asked the sync agent to try HQ again now (it was waiting out a backoff)")
        return
    if args:
        raise UsageError("usage")
    st = ctx.request("sync.status", timeout=3.0)
    ctx.out(f"link     {_link(st)}")
    ctx.out(f"log      head seq {st['head']}, HQ holds up to {st['cursor']}")
    for lane, v in st["lanes"].items():
        ctx.out(f"  {lane:<10} cursor {v['cursor']:<8} backlog {v['backlog']:<8} last ack {v['last_ack'] or 'never'}")
    bundle = st.get("bundle") or {}
    ctx.out(f"bundle   {bundle.get('version') or 'none'}")
    ctx.out("`sync retry` asks the agent to try again now")


# -- network ------------------------------------------------------------------------
def network(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("usage")
    for line in addresses():
        ctx.out(line)
    ctx.out(f"dns      {', '.join(nameservers()) or 'no nameserver in /etc/resolv.conf'}")
    url = hq_url(ctx)
    if url is None:
        ctx.out("HQ       not configured (no credential: `hall provision` or `hall sync credential`)")
        return
    for line in reach(url):
        ctx.out(line)


def addresses() -> list[str]:
    if shutil.which("ip") is None:
        return ["address  `ip` (iproute2) is not installed"]
    out = []
    try:
        links = json.loads(
            subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=5).stdout
        )
        routes = json.loads(
            subprocess.run(["ip", "-j", "route", "show", "default"], capture_output=True, text=True, timeout=5).stdout
            or "[]"
        )
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return [f"address  cannot read: {exc}"]
    for link in links:
        addrs = [
            f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a.get("family") in ("inet", "inet6")
        ]
        out.append(f"{link['ifname']:<8} {link.get('operstate', '?').lower():<8} {' '.join(addrs) or '-'}")
    gateways = [f"{r['gateway']} via {r.get('dev', '?')}" for r in routes if r.get("gateway")]
    out.append(f"gateway  {', '.join(gateways) or 'none (no default route)'}")
    return out


def nameservers(path: Path = Path("/etc/resolv.conf")) -> list[str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    return [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]


def hq_url(ctx: Context) -> str | None:
    """HQ's address as the sync agent last reported it, else as the credential names it."""
    try:
        link = ctx.request("sync.status", timeout=3.0).get("link") or {}
        if link.get("url"):
            return str(link["url"])
    except ConsoleError:
        pass
    try:
        url = json.loads((ctx.home.root / "sync.credential").read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        return None
    return str(url) if url else None


def reach(url: str, timeout: float = 3.0) -> list[str]:
    """Can HQ be reached: name, TCP, HTTP — each step said, the first failure named."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    out = [f"HQ       {url}"]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return [*out, f"  dns    FAIL: {host}: {exc.strerror}"]
    addr = str(infos[0][4][0])
    out.append(f"  dns    {host} → {addr}" if not _is_ip(host) else f"  dns    (an address: {host})")
    start = time.monotonic()
    try:
        with socket.create_connection((addr, port), timeout=timeout):
            pass
    except OSError as exc:
        return [*out, f"  tcp    FAIL: {addr}:{port}: {exc.strerror or exc}"]
    out.append(f"  tcp    {addr}:{port} connected in {(time.monotonic() - start) * 1000:.0f} ms")
    answer = hq_health(url, timeout)
    out.append(f"  http   {answer[0]}")
    return out


def hq_health(url: str, timeout: float = 3.0) -> tuple[str, float | None]:
    """HQ's /healthz: a sentence, and how far HQ's clock is from ours (s), from its Date header."""
    import httpx

    try:
        res = httpx.get(url.rstrip("/") + "/healthz", timeout=timeout)
    except httpx.HTTPError as exc:
        return f"FAIL: {type(exc).__name__}: {exc}", None
    offset = None
    if "date" in res.headers:
        try:
            offset = parsedate_to_datetime(res.headers["date"]).timestamp() - time.time()
        except (TypeError, ValueError):
            pass
    return f"HQ answered {res.status_code}" + (" (ok)" if res.status_code == 200 else ""), offset


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- time ---------------------------------------------------------------------------
def clock(ctx: Context, args: list[str]) -> None:
    if args:
        raise UsageError("usage")
    now = time.time()
    from edge import config

    try:
        zone = config.load(ctx.config_path if ctx.config_path.exists() else None).hall.timezone
    except HallError:
        zone = "UTC"
    local = datetime.fromtimestamp(now, ZoneInfo(zone))
    ctx.out(f"clock    {local:%Y-%m-%d %H:%M:%S %Z} ({zone}) · {datetime.fromtimestamp(now, UTC):%H:%M:%S} UTC")
    ctx.out(f"source   {time_source()}")
    url = hq_url(ctx)
    if url is not None:
        said, offset = hq_health(url)
        if offset is None:
            ctx.out(f"HQ clock not read: {said}")
        else:
            ctx.out(f"HQ clock {offset:+.0f} s from ours (HQ refuses signed requests whose time is off by minutes)")


def time_source() -> str:
    """Where the clock is set from: systemd-timesyncd or chrony when they say, else the kernel's sync flag."""
    if shutil.which("timedatectl") and Path("/run/systemd/system").is_dir():
        res = subprocess.run(
            ["timedatectl", "show", "-p", "NTP", "-p", "NTPSynchronized", "-p", "Timezone"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        props = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        if props:
            synced = "synchronized" if props.get("NTPSynchronized") == "yes" else "NOT synchronized"
            return f"NTP {'on' if props.get('NTP') == 'yes' else 'off'}, {synced} (timedatectl)"
    if shutil.which("chronyc"):
        res = subprocess.run(["chronyc", "-n", "tracking"], capture_output=True, text=True, timeout=5, check=False)
        ref = next((ln.split(":", 1)[1].strip() for ln in res.stdout.splitlines() if ln.startswith("Reference ID")), "")
        if ref:
            return f"chrony, reference {ref}"
    return kernel_sync()


def kernel_sync() -> str:
    """The kernel's own word (adjtimex): whether anything disciplines the clock."""
    if not sys.platform.startswith("linux"):
        return "unknown"
    import ctypes

    buf = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
    try:
        state = ctypes.CDLL(None, use_errno=True).adjtimex(buf)
    except (OSError, AttributeError):
        return "unknown (adjtimex not available)"
    if state == 5:  # TIME_ERROR: STA_UNSYNC
        return "NOT synchronized (no NTP client is disciplining the clock; install systemd-timesyncd or chrony)"
    return (
        "synchronized (kernel clock state ok)"
        if state >= 0
        else f"unknown (adjtimex: {os.strerror(ctypes.get_errno())})"
    )


COMMANDS = {
    "status": Command(status, "status", "queues, counters, services, devices, link to HQ, alerts"),
    "devices": Command(devices, "devices | devices test NAME", "every device's health; self-test one", ("test",)),
    "sync": Command(sync, "sync | sync retry", "backlog, last acknowledgement; try HQ again now", ("retry",)),
    "network": Command(network, "network", "addresses, gateway, DNS, can HQ be reached"),
    "time": Command(clock, "time", "the clock, where it is set from, HQ's clock"),
}
