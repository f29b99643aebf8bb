"""Fixtures for the staff panel: a real core, a real ``hall panel`` process, HTTP clients with sessions."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edge.paths import Home
from tests.conftest import ChildProcess, CoreProcess

MANAGER = ("mgr-wang", "Lantern-Quay-2718")
STAFF = ("staff-li", "Harbour-Fig-5521")
TECH = ("tech-zhao", "Copper-Wren-9034")
OUTPUT = (
    Path(os.environ.get("HALL_TEST_OUTPUT", Path(__file__).resolve().parents[2] / "build" / "test-output")) / "panel"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def add_user(home: Home, name: str, role: str, password: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "edge", "users", "add", name, "--role", role, "--password-stdin"],
        input=password + "\n",
        env={**os.environ, "HALL_HOME": str(home.root)},
        check=True,
        capture_output=True,
        text=True,
    )


class PanelProcess(ChildProcess):
    """``hall panel`` on free local ports (HTTPS, and plain HTTP that redirects), its output in ``panel.log``.

    Clients trust the certificate the panel made on first start (``$HALL_HOME/tls/panel.crt``).
    """

    def __init__(self, home: Home, *, args: tuple[str, ...] = ()) -> None:
        self.home = home
        self.port = free_port()
        self.redirect_port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.log = home.root / "panel.log"
        self.args = args

    @property
    def cert(self) -> Path:
        return self.home.root / "tls" / "panel.crt"

    def ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def http(self, **kw: Any) -> httpx.Client:
        """An HTTP client of this panel that verifies its certificate."""
        return httpx.Client(base_url=self.url, verify=self.ssl(), **kw)

    def start(self) -> PanelProcess:
        argv = [sys.executable, "-m", "edge", "panel", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--redirect-port", str(self.redirect_port), *self.args]
        self.spawn(argv, {**os.environ, "HALL_HOME": str(self.home.root)})
        assert self.proc is not None
        for _ in range(150):
            if self.proc.poll() is not None:
                raise RuntimeError(f"panel exited: {self.log.read_text()[-2000:]}")
            try:
                with self.http(timeout=1.0) as client:
                    if client.get("/login").status_code == 200:
                        return self
            except (httpx.TransportError, OSError):
                pass
            time.sleep(0.1)  # polling for the port to open, bounded by the loop
        raise RuntimeError("panel did not start")


class Client:
    """An HTTPS client that signs in and sends the CSRF header on writes."""

    def __init__(self, panel: PanelProcess, **kw: Any) -> None:
        self.http = panel.http(timeout=15.0, follow_redirects=False, **kw)
        self.csrf = ""

    def login(self, name: str, password: str) -> httpx.Response:
        r = self.http.post("/api/login", json={"name": name, "password": password})
        if r.status_code == 200:
            self.csrf = self.http.get("/api/me").json()["csrf"]
        return r

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST") -> httpx.Response:
        return self.http.request(method, path, json=body or {}, headers={"X-CSRF-Token": self.csrf})

    def ok(self, path: str, body: dict[str, Any] | None = None, *, method: str = "POST") -> Any:
        r = self.post(path, body, method=method)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def panel(core: CoreProcess) -> Iterator[PanelProcess]:
    """A core and a panel with three accounts (manager, staff, technician) made by ``hall users add``."""
    for (name, password), role in ((MANAGER, "manager"), (STAFF, "staff"), (TECH, "technician")):
        add_user(core.home, name, role, password)
    proc = PanelProcess(core.home).start()
    yield proc
    proc.stop()


@pytest.fixture
def manager(panel: PanelProcess) -> Iterator[Client]:
    client = Client(panel)
    assert client.login(*MANAGER).status_code == 200
    yield client
    client.close()


@pytest.fixture
def staff(panel: PanelProcess) -> Iterator[Client]:
    client = Client(panel)
    assert client.login(*STAFF).status_code == 200
    yield client
    client.close()


@pytest.fixture
def anonymous(panel: PanelProcess) -> Iterator[Client]:
    client = Client(panel)
    yield client
    client.close()
