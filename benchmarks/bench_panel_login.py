"""Forty people signing in to the panel at once: peak memory of the panel and sign-in latency (p50, p99).

The baseline, measured in the same run, is the panel with as many argon2
checks at once as there are sign-ins (``login_slots = 40``: how the panel ran
before checks were capped); then the default cap (``login_slots = 2``). Each
sign-in is a real HTTPS request from its own loopback address (127.0.1.N),
with the right password for its own account (argon2id, 64 MiB, 3 passes), so
no delay for guessing is involved. A second burst sends 40 wrong passwords
for one name from one address and counts how many were checked at all.

    .venv/bin/python benchmarks/bench_panel_login.py [--people 40]
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

PASSWORD = "Lantern-Quay-2718"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_home(people: int) -> Path:
    home = Path(tempfile.mkdtemp(prefix="bench-panel-"))
    os.environ["HALL_HOME"] = str(home)
    from edge.panel.accounts import Store

    store = Store(str(home / "panel.db"))
    for i in range(people):
        store.add_user(f"staff{i:02d}", "staff", PASSWORD)
    store.close()
    return home


def start_panel(home: Path, slots: int) -> tuple[subprocess.Popen[bytes], int, ssl.SSLContext]:
    config = home / f"hall-{slots}.toml"
    config.write_text(f"[services.panel]\nlogin_slots = {slots}\n")
    port = free_port()
    argv = [sys.executable, "-m", "edge", "--config", str(config), "panel", "--port", str(port), "--redirect-port", "0"]
    log = open(home / f"panel-{slots}.log", "wb")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(argv, env={**os.environ, "HALL_HOME": str(home)}, stdout=log, stderr=subprocess.STDOUT)
    cert = home / "tls" / "panel.crt"
    for _ in range(200):
        try:
            ctx = ssl.create_default_context(cafile=str(cert))
            if httpx.get(f"https://127.0.0.1:{port}/login", verify=ctx, timeout=1).status_code == 200:
                return proc, port, ctx
        except (OSError, httpx.TransportError):
            pass
        time.sleep(0.1)  # waiting for the port, bounded
    raise RuntimeError("panel did not start")


def burst(port: int, ctx: ssl.SSLContext, logins: list[tuple[str, str, str]]) -> tuple[list[float], list[int]]:
    """All ``(address, name, password)`` sign-ins released at once; latencies and status codes."""
    clients = [
        httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            transport=httpx.HTTPTransport(local_address=address, verify=ctx),
            timeout=120,
        )
        for address, _, _ in logins
    ]
    for c in clients:  # TLS handshakes done before the clock starts
        c.get("/login")
    go = threading.Barrier(len(logins))
    lat = [0.0] * len(logins)
    codes = [0] * len(logins)

    def one(i: int) -> None:
        _, name, password = logins[i]
        go.wait()
        t0 = time.perf_counter()
        codes[i] = clients[i].post("/api/login", json={"name": name, "password": password}).status_code
        lat[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(logins))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return lat, codes


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--people", type=int, default=40)
    a = p.parse_args()
    home = make_home(a.people)
    print(f"{a.people} sign-ins at once, argon2id 64 MiB t=3 p=4, {os.cpu_count()} cores")
    print(f"{'argon2 checks at once':<26}{'peak RSS':>10}{'p50':>9}{'p99':>9}{'ok':>5}  40 wrong for one name: checked")
    for slots in (a.people, 2):
        proc, port, ctx = start_panel(home, slots)
        try:
            idle = peak_rss_mb(proc.pid)
            right = [(f"127.0.1.{i + 1}", f"staff{i:02d}", PASSWORD) for i in range(a.people)]
            lat, codes = burst(port, ctx, right)
            peak = peak_rss_mb(proc.pid)
            _, wrong = burst(port, ctx, [(f"127.0.2.{slots}", "staff00", "guess-password")] * a.people)
            label = f"{slots} ({'baseline: no cap' if slots == a.people else 'default cap'})"
            print(
                f"{label:<26}{peak:>8.0f}MB{pct(lat, 50):>8.2f}s{pct(lat, 99):>8.2f}s{codes.count(200):>5}"
                f"  {wrong.count(401)} of {len(wrong)}, {wrong.count(429)} refused unchecked (idle RSS {idle:.0f} MB)"
            )
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
