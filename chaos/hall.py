"""The hall under test: the demo's services in a home of the run's own, an HQ behind a fault proxy.

Layout of a run's directory (``--home``, else a new ``/tmp/hall-chaos-*``)::

    hall/           HALL_HOME (a tmpfs of its own when run as root)
    hall-final/     the hall's databases, copied before the tmpfs is unmounted
    hq/hq.db        HQ's store (and hq.key): HQ is not on the hall's disk
    services.log    every service's output
    chaos.log       the faults as they were injected, with times
    report.json     the figures and invariants

The services are the ones ``hall demo`` runs (core, devices with simulated peers, vision on the
sample video, kiosk offscreen, panel, sync, simulated customers and staff), under the same
:class:`~edge.supervisor.Supervisor`, plus ``hall hq serve``. The agent's credential names the proxy,
not HQ, so every byte between them passes :class:`~chaos.proxy.FaultProxy`.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from chaos.disk import Disk
from chaos.pcscd import Pcscd
from chaos.proxy import FaultProxy
from edge.bus import BusClient, Endpoints
from edge.errors import BusError
from edge.paths import Home
from edge.supervisor import Child, Supervisor, service_names

MANAGER = "chaos"


@dataclass(frozen=True)
class Layout:
    base: Path

    @property
    def hall(self) -> Path:
        return self.base / "hall"

    @property
    def kept(self) -> Path:
        return self.base / "hall-final"

    @property
    def hq_db(self) -> Path:
        return self.base / "hq" / "hq.db"

    @property
    def services_log(self) -> Path:
        return self.base / "services.log"

    @property
    def log(self) -> Path:
        return self.base / "chaos.log"

    @property
    def report(self) -> Path:
        return self.base / "report.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Hall:
    def __init__(self, layout: Layout, *, seed: int, skip: set[str], disk_mb: int, ballast_max_mb: int) -> None:
        self.layout = layout
        self.seed = seed
        self.skip = skip
        self.home = Home(layout.hall)
        self.disk = Disk(layout.hall, size_mb=disk_mb, ballast_max_mb=ballast_max_mb)
        self.pcscd = Pcscd()
        self.password = secrets.token_urlsafe(18)
        self.panel_port = free_port()
        self.redirect_port = free_port()
        self.hq_port = free_port()
        self.hall_id = "demo-001"
        self.proxy: FaultProxy | None = None
        self.sup: Supervisor | None = None
        self._output: IO[str] | None = None
        self._thread: threading.Thread | None = None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"HALL_HOME": str(self.home.root), "HALL_DEMO": "1", "HALL_CONFIG": str(self.home.config_path)})
        for name in ("HALL_BUS_REQUESTS", "HALL_BUS_EVENTS", "HALL_BUS_KEYS", "HALL_HQ_DB", "HALL_HQ_KEY_FILE"):
            env.pop(name, None)
        return env

    def start(self, say: IO[str]) -> None:
        """Mount, configure, start pcscd, HQ and every service; return once the core answers."""
        self.layout.base.mkdir(parents=True, exist_ok=True)
        self.disk.prepare()
        self.home.ensure()
        env = self.env
        for name in set(os.environ) - set(env):
            del os.environ[name]
        os.environ.update(env)  # the harness's own bus clients find this hall
        self.pcscd.prepare()
        self.home.config_path.write_text(self._config(iccard=self.pcscd.owned))
        self._add_manager()
        self._start_hq_link()
        self._output = open(self.layout.services_log, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        names = [n for n in service_names(None, None) if n not in self.skip]
        extra = {
            "simulate": [sys.executable, "-m", "edge", "simulate", "--seed", str(self.seed)],
            "hq": [
                sys.executable,
                *("-m", "edge", "hq", "serve", "--host", "127.0.0.1", "--port", str(self.hq_port)),
                *("--db", str(self.layout.hq_db)),
            ],
        }
        self.sup = Supervisor(
            names, self.env, {k: v for k, v in extra.items() if k not in self.skip}, output=self._output
        )
        self._thread = threading.Thread(target=self.sup.run, name="supervisor", daemon=True)
        self._thread.start()
        if not self.wait_core(90):
            print("hall chaos: the core did not answer within 90 s of starting", file=say, flush=True)

    def _config(self, *, iccard: bool) -> str:
        text = (
            "# written by hall chaos for this run\n"
            "[services.panel]\n"
            f"port = {self.panel_port}\n"
            f"redirect_port = {self.redirect_port}\n"
            "\n[services.sync]\n"
            "status_every_s = 2.0\n"
        )
        if not iccard:  # another program's pcscd: its readers and cards are not this hall's to read
            text += "\n[services.devices.iccard]\nenabled = false\n"
        return text

    def _add_manager(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "edge", "users", "add", MANAGER, "--role", "manager", "--password-stdin"],
            input=self.password + "\n",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def _start_hq_link(self) -> None:
        from sync import auth
        from sync.config import Credential, save_credential
        from sync.hq.store import open_store

        self.layout.hq_db.parent.mkdir(parents=True, exist_ok=True)
        key = auth.new_key()
        store = open_store(str(self.layout.hq_db))
        try:
            store.add_hall(self.hall_id, key)
        finally:
            store.close()
        self.proxy = FaultProxy(("127.0.0.1", self.hq_port), seed=self.seed)
        save_credential(self.home, Credential(self.hall_id, self.proxy.url, key))

    # -- what the run uses -------------------------------------------------------------------------
    def child(self, name: str) -> Child | None:
        assert self.sup is not None
        return next((c for c in self.sup.children if c.name == name), None)

    def children(self) -> list[Child]:
        return list(self.sup.children) if self.sup else []

    def bus(self, timeout: float = 1.0, retries: int = 0) -> BusClient:
        return BusClient("chaos", endpoints=Endpoints.local(self.home), timeout=timeout, retries=retries)

    def ping(self) -> int | None:
        """The core's pid when it answers within half a second, else None."""
        with self.bus(timeout=0.5) as bus:
            try:
                return int(bus.request("hall.ping")["pid"])
            except BusError:
                return None

    @property
    def zone(self) -> str:
        from edge import config

        return str(config.load(str(self.home.config_path)).hall.timezone)

    def today(self) -> date:
        """The hall's business day, as the core says (its own zone), else the local date."""
        with self.bus(timeout=2.0, retries=2) as bus:
            try:
                return date.fromisoformat(str(bus.request("queue.status")["day"]))
            except BusError:
                return date.today()

    def wait_core(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping() is not None:
                return True
        return False

    def stop(self) -> None:
        if self.sup is not None:
            self.sup.stopping.set()  # its loop ends and stops every child, politely first
        if self._thread is not None:
            self._thread.join(60)
        if self.proxy is not None:
            self.proxy.close()
        self.pcscd.close()
        if self._output is not None:
            self._output.close()
            self._output = None

    def unmount(self) -> None:
        self.disk.unmount(keep=self.layout.kept)
